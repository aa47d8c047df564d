"""What this machine keeps about each RunPod run it launched: the per-run SSH private key (0600) and a small
``run.json`` (the pod id, the pinned host key, where the bundle tarball is).

Kept in the data dir, not in the ledger: the ledger must never hold a credential, and the handle stays
small. A later ``tuneplan watch``/``reap`` on this machine finds it again by run id, so a run survives the
CLI that launched it. Another machine has no key and can only see and end the pod through the API.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

KEY_FILE = "id_ed25519"
HOST_KEY_FILE = "pod_host_ed25519"  # the pod's host private key: kept so a repeated launch sends the same one
RUN_FILE = "run.json"


class LocalRunState:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, run_id: str) -> Path:
        return self.root / run_id

    def key_file(self, run_id: str) -> Path:
        return self.folder(run_id) / KEY_FILE

    def save_key(self, run_id: str, private_key: bytes, name: str = KEY_FILE) -> Path:
        folder = self.folder(run_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as f:
            f.write(private_key)
        return path

    def read_key(self, run_id: str, name: str = KEY_FILE) -> bytes | None:
        try:
            return (self.folder(run_id) / name).read_bytes()
        except OSError:
            return None

    def forget_key(self, run_id: str) -> None:
        """After teardown the keys open nothing; delete them."""
        self.key_file(run_id).unlink(missing_ok=True)
        (self.folder(run_id) / HOST_KEY_FILE).unlink(missing_ok=True)

    def read(self, run_id: str) -> dict:
        try:
            data = json.loads((self.folder(run_id) / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, run_id: str, **changes) -> dict:
        data = {**self.read(run_id), **changes}
        folder = self.folder(run_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / (RUN_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, folder / RUN_FILE)
        return data
