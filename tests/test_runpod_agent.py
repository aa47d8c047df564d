"""The RunPod pod agent as the container runs it, including what RunPod does to it: it restarts the container
when the agent (its main process) exits, with the container disk kept. The agent used to run the job again
from scratch with a fresh deadline on every restart (a crash loop that never ends the pod), to die on an
uncaught error before ending the pod, and to ask RunPod's API to terminate the pod forever while billing.

The pod's API here is a closed port (terminate always fails), so what is tested is the agent's own guard.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

AGENT = Path(__file__).resolve().parents[1] / "providers" / "runpod" / "pod_agent.py"


def start(folder: Path, timeout_s: float = 60, **env: str) -> subprocess.CompletedProcess:
    """One start of the agent in ``folder`` (one container start), with RunPod's API out of reach."""
    settings = {"TUNEPLAN_POD_BOOT_TIMEOUT_S": "1", "TUNEPLAN_POD_MAX_RUNTIME_S": "2", "TUNEPLAN_POD_LIFE_SLACK_S": "0",
                "TUNEPLAN_POD_PULL_WINDOW_S": "0.2", "TUNEPLAN_POD_TERMINATE_RETRY_S": "0.1",
                "TUNEPLAN_POD_GIVE_UP_AFTER_S": "0", "TUNEPLAN_POD_API_URL": "http://127.0.0.1:9",
                "RUNPOD_POD_ID": "pod-1", "RUNPOD_API_KEY": "pod-key", "PATH": "/usr/bin:/bin", **env}
    return subprocess.run([sys.executable, str(AGENT), "--dir", str(folder)], env=settings, capture_output=True,
                          text=True, timeout=timeout_s)


def state(folder: Path) -> tuple[dict, dict]:
    return (json.loads((folder / "status.json").read_text()), json.loads((folder / "life.json").read_text()))


def test_restarts_are_counted_and_the_agent_stops_restarting_the_job(tmp_path):
    folder = tmp_path / "tuneplan"
    for expected in (1, 2, 3):
        done = start(folder)  # no bundle ever comes: each start ends the pod (and here fails to)
        status, life = state(folder)
        assert life["starts"] == expected and done.returncode == 1, done.stderr
    status, _ = state(folder)
    assert status["phase"] == "gave_up_terminating" and "did not end the pod" in status["note"]
    (folder / "status.json").write_text(json.dumps({"phase": "running"}))  # as if it died mid-job
    started = time.monotonic()
    done = start(folder)
    status, life = state(folder)
    assert life["starts"] == 4 and "restarted 4 times" in status["error"] and done.returncode == 1
    assert time.monotonic() - started < 20


def test_a_restart_keeps_the_first_deadline(tmp_path):
    folder = tmp_path / "tuneplan"
    folder.mkdir()
    (folder / "life.json").write_text(json.dumps({"starts": 1, "first_boot_at": time.time() - 1,
                                                  "deadline_at": time.time() - 0.5}))
    (folder / "status.json").write_text(json.dumps({"phase": "running", "state": "running"}))
    bundle = tmp_path / "bundle.tgz"
    import tarfile

    job = tmp_path / "job.py"
    job.write_text("import time\ntime.sleep(60)\n")
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(job, arcname="job.py")
    import hashlib

    (folder / "bundle.tgz").write_bytes(bundle.read_bytes())
    done = start(folder, TUNEPLAN_POD_SHA256=hashlib.sha256(bundle.read_bytes()).hexdigest(),
                 TUNEPLAN_POD_ENTRYPOINT="job.py", TUNEPLAN_POD_ARGS="[]")
    status, life = state(folder)
    assert status["state"] == "budget_stopped" and "restarted after it" in status["error"], status
    assert life["starts"] == 2 and done.returncode == 1


def test_an_error_in_the_agent_still_ends_the_pod(tmp_path):
    import hashlib

    folder = tmp_path / "tuneplan"
    folder.mkdir()
    garbage = b"not a tar archive at all" * 100  # its sha256 matches: unpacking it raises (tarfile.ReadError)
    (folder / "bundle.tgz").write_bytes(garbage)
    done = start(folder, TUNEPLAN_POD_SHA256=hashlib.sha256(garbage).hexdigest())
    status, _ = state(folder)
    assert status["state"] == "failed" and "the pod agent failed: ReadError" in status["error"], status
    assert status["phase"] == "gave_up_terminating" and done.returncode == 1, "it went on to end the pod"
