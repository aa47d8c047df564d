"""The RunPod provider through the whole lifecycle, against the fake RunPod API on 127.0.0.1: launch → watch →
pull (sha256 checked on both ends) → teardown → the bill in the ledger; and a real ``tuneplan launch
--provider runpod`` killed with SIGKILL mid-run, whose pod ``tuneplan reap`` then finds, pulls and ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from providers import registry
from providers.types import RunState
from remote_jobs.ledger import Ledger
from tests.cli_inprocess import run_cli
from tests.contract.harness import FakeClock, run_lifecycle, smoke_spec
from tests.contract.harness_runpod import fast_provider
from tests.fake_runpod import KEY, FakeRunpod

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "examples" / "tiny-smoke.yaml")
CLI = [sys.executable, "-c", "from tuneplan.cli.app import main; main()"]


@pytest.fixture
def fake(tmp_path):
    server = FakeRunpod(tmp_path / "fake-runpod")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def runpod_env(fake, monkeypatch):
    """What a user sets: the key and (here) the endpoint; short pod timers through TUNEPLAN_* settings."""
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    monkeypatch.setenv("TUNEPLAN_RUNPOD__PULL_WINDOW_S", "120")
    monkeypatch.setenv("TUNEPLAN_RUNPOD__BOOT_TIMEOUT_S", "120")
    return fake


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_run_goes_from_launch_to_a_verified_pull_a_teardown_and_a_bill(fake, tmp_path):
    provider = fast_provider(fake, tmp_path)
    ledger, events = Ledger(tmp_path / "ledger.sqlite"), []
    spec = smoke_spec("rp-life", steps=3, resources={"provider": "runpod"})
    record = run_lifecycle(spec, provider, ledger, FakeClock(), tmp_path / "runs", events)
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    assert record.torn_down_at is not None and not fake.pods
    assert {a["path"] for a in record.artifacts} >= {"artifacts/metrics.json", "artifacts/smoke.txt"}
    assert record.billed_usd is not None and record.billed_usd > 0, "RunPod's own bill is in the ledger"
    assert record.gpu and record.price_source and fake.url in record.price_source
    priced = record.region  # the offer's offering (secure-cloud / community-cloud), carried by LaunchPlan.offering
    assert priced in ("secure-cloud", "community-cloud") and record.handle.data["cloud_type"] == priced[:-6].upper()
    assert (Path(record.runs_dir) / "run.log").read_text().count("TUNEPLAN_PROGRESS") == 3
    assert not (tmp_path / "runpod-state" / record.run_id / "id_ed25519").exists(), "the run's key is deleted"


def test_kill_9_of_the_cli_mid_run_leaves_a_pod_that_reap_finds_pulls_and_ends(runpod_env, monkeypatch, capsys):
    fake = runpod_env
    env = dict(os.environ, TUNEPLAN_FAILPOINT="watching")
    proc = subprocess.Popen([*CLI, "launch", SMOKE, "--provider", "runpod", "--yes", "--set",
                             "smoke.step_seconds=0.2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert wait_until(lambda: _stopped(proc), 60), proc.communicate() if proc.poll() is not None else "no stop"
    finally:
        proc.kill()
        out, err = proc.communicate()
    assert KEY not in out + err
    [record] = Ledger().runs()
    assert record.state == RunState.RUNNING and not record.finished
    assert [p.name for p in fake.pods.values()] == [f"tp-{record.run_id}"], "the pod outlived the CLI"

    monkeypatch.setattr(registry, "_FACTORIES", {"local": registry._local, "runpod": registry._runpod})
    provider = registry.get_provider("runpod")
    assert wait_until(lambda: provider.status(record.handle).state.terminal, 30), "the job ran on without the CLI"
    code, listing, _err = run_cli(capsys, "reap")
    assert code == 1 and "unpulled" in listing and record.run_id in listing, "left to act on: exit 1, for cron"
    code, found, _err = run_cli(capsys, "reap", "--json")
    (item,) = json.loads(found)["items"]
    assert code == 1 and item["verdict"] == "unpulled" and item["actionable"] and item["run_id"] == record.run_id
    code, done, err = run_cli(capsys, "reap", "--yes")
    assert code == 0 and "finished as succeeded" in done, done + err
    assert wait_until(lambda: not fake.pods, 10), "reap terminated the pod"
    after = Ledger().get(record.run_id)
    assert after.state == RunState.SUCCEEDED and after.torn_down_at is not None and after.artifacts
    assert KEY not in listing + done + err


def _stopped(proc: subprocess.Popen) -> bool:
    if proc.poll() is not None:
        return False
    return Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] == "T"
