"""Small HTTP servers on 127.0.0.1 that stand in for remote services in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A route answers (status, body); body is a dict/list (sent as JSON) or raw bytes.
Route = Callable[[str, dict[str, str]], tuple[int, object]]


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[tuple[str, list[dict]]]:
    """Serve ``routes`` (path → handler) on a free port; yields (base url, request log)."""
    log: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            self._answer()

        def do_POST(self):  # noqa: N802
            self._answer()

        def _answer(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            log.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
            route = routes.get(self.path.split("?")[0])
            status, payload = route(body, dict(self.headers)) if route else (404, {"error": "not found"})
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
