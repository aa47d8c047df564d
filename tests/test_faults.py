"""Faults: the CLI killed with SIGKILL during launch, watch and fetch, and interrupted with Ctrl-C (SIGINT).

Each kill happens at a named failpoint (``remote_jobs.failpoints``: the CLI stops itself there with SIGSTOP,
the test kills it -9), so the kill lands exactly between two steps. Afterwards ``reap`` and ``watch`` must
finish the story: no orphan process, no lost ledger row, no half-written artifact reported as good.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from providers.local import LocalProvider
from providers.types import RunState
from remote_jobs.ledger import Ledger
from tests.contract.harness import processes_mentioning

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "examples" / "tiny-smoke.yaml")
CLI = [sys.executable, "-c", "from tuneplan.cli.app import main; main()"]


def as_in_a_terminal() -> None:
    """A foreground command in a terminal gets Ctrl-C; a suite started in the background by a non-interactive
    shell passes SIGINT ignored to its children, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: str, failpoint: str | None = None) -> subprocess.Popen:
    env = dict(os.environ, TUNEPLAN_FAILPOINT=failpoint or "")
    return subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_in_a_terminal)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def stopped(proc: subprocess.Popen, timeout_s: float = 30) -> None:
    """Wait until the CLI has stopped itself at its failpoint (state T), or fail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        state = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0]
        if state == "T":
            return
        time.sleep(0.02)
    raise AssertionError("the CLI never reached its failpoint")


def kill9(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def launch_killed_at(failpoint: str, step_seconds: float = 0.05) -> str:
    proc = cli("launch", SMOKE, "--yes", "--set", f"smoke.step_seconds={step_seconds}", failpoint=failpoint)
    stopped(proc)
    kill9(proc)
    runs = Ledger().runs()
    assert len(runs) == 1, "the ledger row exists whatever the moment of the kill"
    return runs[0].run_id


def assert_story_finished(run_id: str, state: RunState = RunState.SUCCEEDED) -> None:
    record = Ledger().get(run_id)
    assert record.state == state, record.failure_reason
    assert record.finished and record.torn_down_at is not None
    assert LocalProvider().list_resources() == []
    assert not processes_mentioning(run_id), "no orphan process"
    run_dir = Path(record.runs_dir)
    assert not list(run_dir.glob(".artifacts.partial-*"))
    if state == RunState.SUCCEEDED:
        assert record.artifacts and all((run_dir / a["path"]).is_file() for a in record.artifacts)


def test_kill_after_the_row_is_recorded_but_before_the_launch(tmp_path):
    run_id = launch_killed_at("recorded")
    record = Ledger().get(run_id)
    assert record.state == RunState.PENDING and record.handle is None
    listing = run("reap")
    assert "launching" in listing.stdout, listing.stdout
    done = run("watch", run_id)
    assert done.returncode == 1 and "launch was interrupted" in done.stderr
    assert_story_finished(run_id, RunState.FAILED)


def test_kill_between_the_machine_starting_and_the_handle_being_recorded():
    run_id = launch_killed_at("launched")
    record = Ledger().get(run_id)
    assert record.handle is None, "killed before the handle was written"
    assert [r.run_id for r in LocalProvider().list_resources()] == [run_id], "the machine exists"
    done = run("watch", run_id)
    assert done.returncode == 0, done.stderr
    assert_story_finished(run_id)
    assert any(e["message"] == "handle recovered from the provider's resources" for e in Ledger().events(run_id))


def test_kill_while_watching_then_reap_and_watch_finish_it():
    run_id = launch_killed_at("watching", step_seconds=0.2)
    assert Ledger().get(run_id).state == RunState.RUNNING
    listing = run("reap", "--yes")
    assert "active" in listing.stdout and run_id in listing.stdout, listing.stdout
    assert LocalProvider().list_resources(), "reap leaves a running job alone"
    done = run("watch", run_id)
    assert done.returncode == 0, done.stderr
    assert_story_finished(run_id)


def test_kill_during_the_fetch_never_reports_a_half_written_artifact():
    run_id = launch_killed_at("fetched")
    record = Ledger().get(run_id)
    assert record.state == RunState.PULLING and record.artifacts == []
    run_dir = Path(record.runs_dir)
    partial = next(run_dir.glob(".artifacts.partial-*"))
    (partial / "smoke.txt").write_text("half-writ")  # as if the kill had cut a copy short
    assert not (run_dir / "artifacts").exists()
    jobs = run("jobs", "--json")
    assert '"state": "pulling"' in jobs.stdout and '"artifacts": []' in jobs.stdout
    listing = run("reap", "--yes")
    assert "unpulled" in listing.stdout and "finished as succeeded" in listing.stdout, listing.stdout
    assert_story_finished(run_id)
    assert (run_dir / "artifacts" / "smoke.txt").read_text() != "half-writ"


def test_kill_after_the_outcome_before_the_teardown_is_recorded(tmp_path):
    run_id = launch_killed_at("fetched")
    run("watch", run_id)  # finishes the story; now undo the teardown record as a kill before it would
    Ledger().update(run_id, torn_down_at=None)
    listing = run("reap", "--yes")
    assert "untidy" in listing.stdout, listing.stdout
    assert_story_finished(run_id)


def test_ctrl_c_tears_the_run_down():
    proc = cli("launch", SMOKE, "--yes", "--set", "smoke.step_seconds=0.2", "--set", "training.max_steps=200")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = Ledger().runs()
        if runs and runs[0].state == RunState.RUNNING:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    run_id = Ledger().runs()[0].run_id
    record = Ledger().get(run_id)
    assert record.state == RunState.CANCELLED and "Ctrl-C" in record.failure_reason
    assert_story_finished(run_id, RunState.CANCELLED)


@pytest.mark.parametrize("secret", ["HF_TOKEN", "WANDB_API_KEY"])
def test_a_canary_secret_never_leaves_the_environment(monkeypatch, capsys, secret, tmp_path):
    from tests.cli_inprocess import run_cli

    canary = f"canary-{secret.lower()}-3f9a1c"
    monkeypatch.setenv(secret, canary)
    code, out, err = run_cli(capsys, "launch", SMOKE, "--yes", "--set", "smoke.step_seconds=0.01",
                             "--set", f'secrets=["{secret}"]')
    assert code == 0, err
    outputs = [out, err]
    for args in (("jobs", "--json"), ("report", "--format", "json"), ("report", "--format", "csv"), ("report",),
                 ("logs", "tiny-smoke")):
        outputs += run_cli(capsys, *args)[1:]
    assert not any(canary in text for text in outputs)
    import tarfile

    data_dir = Path(os.environ["TUNEPLAN_DATA_DIR"])
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
            if path.name.endswith(".tar.gz"):
                with tarfile.open(path) as tar:
                    for member in tar.getmembers():
                        if member.isfile():
                            assert canary.encode() not in tar.extractfile(member).read(), member.name
    bundle_manifest = next(data_dir.rglob("bundle.json")).read_text()
    assert f'"{secret}"' in bundle_manifest, "the secret travels by name"
