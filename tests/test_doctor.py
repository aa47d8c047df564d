"""``tuneplan doctor`` (issue 23, "Also"): every provider's own check offline, and ``--online PROVIDER`` running
the smoke job the whole way and writing what the service did. On the local provider the online check is
real; a provider whose check fails is not launched, and the findings never carry a secret's value."""

from __future__ import annotations

import json
import os
from pathlib import Path

from providers.types import RunState
from remote_jobs.ledger import Ledger
from tests.cli_inprocess import run_cli

CANARY = "hf_doctor_canary_7c1e"


def test_doctor_offline_lists_each_provider_with_its_fix(capsys, monkeypatch):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    code, out, err = run_cli(capsys, "doctor")
    assert code == 0, err
    assert "local: ok" in out and "runpod: not ready" in out and "RUNPOD_API_KEY" in out
    code, out, _ = run_cli(capsys, "doctor", "runpod")
    assert code == 1 and "fix:" in out


def test_doctor_online_runs_the_smoke_job_and_writes_what_it_saw(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", CANARY)
    findings = tmp_path / "findings.json"
    code, out, err = run_cli(capsys, "doctor", "--online", "local", "--yes", "--output", str(findings))
    assert code == 0, err + out
    report = json.loads(findings.read_text())
    assert report["outcome"] == "the smoke run succeeded" and report["errors"] == []
    states = [row["state"] for row in report["timeline"] if "state" in row]
    assert states[0] == "provisioning" and "running" in states and states[-1] == "succeeded"
    assert report["run"]["torn_down"] and report["run"]["artifacts"] >= 3
    assert report["check"]["ok"] and report["plan"]["max_runtime_s"] > 0
    record = Ledger().get(report["run"]["run_id"])
    assert record.state == RunState.SUCCEEDED and record.project == "tuneplan-doctor"
    assert CANARY not in findings.read_text() and oct(findings.stat().st_mode & 0o777) == "0o600"


def test_doctor_online_launches_nothing_where_the_check_fails(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    findings = tmp_path / "runpod.json"
    code, out, _ = run_cli(capsys, "doctor", "--online", "runpod", "--yes", "--output", str(findings))
    report = json.loads(findings.read_text())
    assert code == 1 and report["outcome"].startswith("skipped") and "run" not in report
    assert Ledger().runs() == []


def test_doctor_online_needs_a_provider_and_a_known_one(capsys):
    code, _, err = run_cli(capsys, "doctor", "--online")
    assert code == 2 and "needs a provider" in err
    code, _, err = run_cli(capsys, "doctor", "--online", "runpd")
    assert code == 2 and "runpod" in err


def test_the_findings_scrub_secret_values(monkeypatch, tmp_path):
    from datetime import datetime, timezone

    from remote_jobs.doctor import write_report

    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_secret_value_123")
    path = write_report({"provider": "runpod", "errors": ["401 for key rpa_secret_value_123"]}, tmp_path,
                        datetime(2026, 12, 3, tzinfo=timezone.utc))
    assert "rpa_secret_value_123" not in path.read_text() and "<RUNPOD_API_KEY>" in path.read_text()
    assert path.parent == tmp_path and os.access(path, os.R_OK) and Path(path).name.startswith("doctor-runpod-")
