"""Issue 22, the command line as a person expects: a launch without credentials is refused before anything
is recorded; ``jobs`` asks the providers how open runs stand (a detached run is not "provisioning" for ever)
and filters; ``pull --to`` copies verified artifacts; ``report --format pdf`` is the same as ``--pdf``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from providers.types import RunState
from remote_jobs.ledger import Ledger
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "examples" / "tiny-smoke.yaml")
SFT = str(ROOT / "examples" / "tiny-sft.yaml")


def test_a_launch_without_the_providers_key_is_refused_and_nothing_is_recorded(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = run_cli(capsys, "launch", SFT, "--yes", "--set", "resources.provider=runpod",
                           "--set", "resources.gpu=RTX4090")
    assert code == 2 and "no RunPod API key" in err and "nothing was started or recorded" in err
    assert Ledger().runs() == []


def test_jobs_refreshes_a_detached_run_and_filters(capsys):
    code, out, err = run_cli(capsys, "launch", SMOKE, "--yes", "--detach", "--set", "smoke.step_seconds=0.3",
                             "--set", "training.max_steps=40")
    assert code == 0, err
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, out, _ = run_cli(capsys, "jobs", "--json")
        if json.loads(out)[0]["state"] == "running":
            break
        time.sleep(0.3)
    assert json.loads(out)[0]["state"] == "running", "jobs asked the provider: the detached run is running"
    code, out, _ = run_cli(capsys, "jobs", "--json", "--no-refresh", "--state", "succeeded")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run_cli(capsys, "jobs", "--json", "--no-refresh", "--project", "examples", "--provider", "local")
    assert len(json.loads(out)) == 1
    code, _, err = run_cli(capsys, "jobs", "--state", "runing")
    assert code == 2 and "states are" in err
    code, _, err = run_cli(capsys, "down", "tiny-smoke")
    assert code == 0, err


def test_pull_to_copies_the_verified_artifacts_and_never_overwrites(capsys, tmp_path):
    code, _, err = run_cli(capsys, "launch", SMOKE, "--yes", "--set", "smoke.step_seconds=0.01")
    assert code == 0, err
    run_id = Ledger().runs()[0].run_id
    target = tmp_path / "adapter"
    code, out, err = run_cli(capsys, "pull", run_id, "--to", str(target))
    assert code == 0, err
    assert (target / "manifest.json").is_file() and (target / "smoke.txt").is_file()
    code, _, err = run_cli(capsys, "pull", run_id, "--to", str(target))
    assert code == 2 and "not an empty folder" in err
    assert Ledger().runs()[0].state == RunState.SUCCEEDED


def test_report_takes_format_pdf(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Chromium here: the answer must be about that, not the flag
    code, _, err = run_cli(capsys, "report", "--format", "pdf", "-o", str(tmp_path / "r.pdf"))
    assert "unknown" not in err.lower() and "invalid value" not in err.lower() and "no such option" not in err
    assert code == 0 or "Chromium" in err


class _Answers:
    """A provider that answers ``status`` as told (the refresh's only call), and counts the calls."""

    name = "local"

    def __init__(self, state: RunState, wait_s: float = 0.0) -> None:
        self.state, self.wait_s, self.calls = state, wait_s, 0

    def status(self, handle):
        from providers.types import RunStatus

        self.calls += 1
        time.sleep(self.wait_s)
        return RunStatus(self.state, "as told")


def _open_run(ledger: Ledger, state: RunState) -> str:
    from datetime import datetime, timezone

    from providers.types import RunHandle
    from remote_jobs.records import RunRecord

    run_id = "refresh-20261203-120000-abcd"
    ledger.create(RunRecord(run_id=run_id, name="refresh", project="p", owner="o", provider="local", state=state,
                            created_at=datetime(2026, 12, 3, 12, tzinfo=timezone.utc),
                            handle=RunHandle("local", run_id, "pid-1")))
    return run_id


def test_a_refresh_records_a_start_but_never_undoes_what_the_watcher_recorded(tmp_path):
    from remote_jobs.refresh import refresh_open_runs

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    run_id = _open_run(ledger, RunState.PROVISIONING)
    outcome = refresh_open_runs(ledger, ledger.clock, tmp_path, get_provider=lambda name: _Answers(RunState.RUNNING))
    assert outcome[run_id] == "state running" and ledger.get(run_id).state == RunState.RUNNING
    ledger.update(run_id, state=RunState.PULLING)  # the watcher moved on while the provider still says running
    refresh_open_runs(ledger, ledger.clock, tmp_path, get_provider=lambda name: _Answers(RunState.RUNNING))
    assert ledger.get(run_id).state == RunState.PULLING


def test_a_provider_that_does_not_answer_in_time_is_left_as_it_was(tmp_path):
    from remote_jobs.refresh import refresh_open_runs

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    run_id = _open_run(ledger, RunState.PROVISIONING)
    outcome = refresh_open_runs(ledger, ledger.clock, tmp_path, timeout_s=0.3,
                                get_provider=lambda name: _Answers(RunState.RUNNING, wait_s=3))
    assert outcome[run_id] == "no answer in time" and ledger.get(run_id).state == RunState.PROVISIONING


def test_down_closes_a_run_that_never_reached_a_provider_this_machine_cannot_ask(capsys, monkeypatch, tmp_path):
    """Issue 22 item 11: a failed launch without a machine stayed "not torn down" for ever when the provider
    could not be asked (no key): ``down`` closes it and says why."""
    from datetime import datetime, timezone

    from remote_jobs.records import RunRecord

    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    at = datetime(2026, 12, 3, 12, tzinfo=timezone.utc)
    Ledger().create(RunRecord(run_id="never-20261203-120000-abcd", name="never", project="p", owner="o",
                              provider="runpod", state=RunState.FAILED, created_at=at, ended_at=at,
                              failure_reason="launch failed"))
    code, _, err = run_cli(capsys, "down", "never")
    assert code == 0, err
    assert Ledger().get("never-20261203-120000-abcd").torn_down_at is not None
    events = " ".join(e["message"] or "" for e in Ledger().events("never-20261203-120000-abcd"))
    assert "cannot be asked from here" in events and "nothing to tear down" in events
