"""A fake Hugging Face Hub on 127.0.0.1 for uploads: what huggingface_hub 1.16's ``create_repo`` and
``upload_folder`` ask of the Hub for small files, answered as the Hub answers (read from the installed
client: ``hf_api.HfApi.create_repo`` posts ``/api/repos/create`` and reads ``url``;
``_commit_api._fetch_upload_modes`` posts ``/api/models/<repo>/preupload/<rev>`` and reads each file's
``uploadMode``/``shouldIgnore``; ``HfApi.create_commit`` posts NDJSON to ``/api/models/<repo>/commit/<rev>``
and reads ``commitUrl``/``commitOid``; ``HfApi.validate_yaml`` posts a README's front matter to
``/api/validate-yaml`` and reads ``errors``/``warnings``). Every file is told "regular", so contents arrive inline (base64)
and no LFS or Xet transfer is involved. ``refuse`` makes every request a 401, as a bad token gets.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[str] = []
        self.refuse = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeHub":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(f"POST {self.path}")
                if hub.refuse:
                    return self._send(401, {"error": "Invalid credentials in Authorization header"})
                path = self.path.split("?")[0]
                if path == "/api/validate-yaml":  # HfApi.validate_yaml, asked when a README.md is uploaded
                    return self._send(200, {"errors": [], "warnings": []})
                if path == "/api/repos/create":
                    data = json.loads(body)
                    repo = f"{data.get('organization') or 'me'}/{data['name']}"
                    hub.repos.setdefault(repo, {})
                    return self._send(200, {"url": f"{hub.url}/{repo}", "name": repo})
                if "/preupload/" in path:
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                       "shouldIgnore": False} for f in files]})
                if "/commit/" in path:
                    repo = path.removeprefix("/api/models/").split("/commit/")[0]
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item.get("key") == "file":
                            value = item["value"]
                            hub.repos.setdefault(repo, {})[value["path"]] = base64.b64decode(value["content"])
                    return self._send(200, {"commitUrl": f"{hub.url}/{repo}/commit/0123abcd",
                                            "commitOid": "0123abcd" * 5, "pullRequestUrl": None})
                return self._send(404, {"error": f"no route {path}"})

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
