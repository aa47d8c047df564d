"""Jobs that behave as a hostile (or just unlucky) remote machine would, run through the real lifecycle.

Each job is a small Python script in a real bundle, run by the real local provider; ``run_script`` takes it
through launch → watch → pull → verify → teardown → record exactly as ``tuneplan launch`` does, with the
event sink a test chooses (the CLI's own progress display, say).
"""

from __future__ import annotations

from pathlib import Path

from providers.local import LocalProvider
from remote_jobs import launch as steps
from remote_jobs.events import EventSink, ignore
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord
from remote_jobs.watch import watch
from tests.contract.harness import FakeClock, Harness, smoke_spec

# What every script starts with: write files under out/, then a manifest of them (the template protocol).
PRELUDE = '''
import hashlib, json, os, sys
os.makedirs("out", exist_ok=True)

def put(name, data):
    path = os.path.join("out", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

def entry(name, path=None):
    data = open(path or os.path.join("out", name), "rb").read()
    return {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

def manifest(entries):
    with open("out/manifest.json", "w") as f:
        json.dump({"files": entries, "complete": True}, f)
'''


def run_script(tmp_path: Path, script: str, sink: EventSink = ignore, project: str = "default",
               provider: LocalProvider | None = None) -> tuple[RunRecord, Ledger]:
    """Run ``PRELUDE + script`` as a job on the local provider, to its end; (final record, ledger)."""
    provider = provider or LocalProvider(root=tmp_path / "local-provider", grace_s=0.5)
    clock = FakeClock()
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock)
    runs_root = tmp_path / "runs"
    request = steps.prepare(smoke_spec(name="hostile", project=project), None, provider, clock)
    bundle = Harness(provider, tmp_path).script_bundle(request.run_id, PRELUDE + script)
    run = steps.start(request, bundle, ledger, clock, runs_root, sink)
    return watch(run, poll_s=0.05), ledger
