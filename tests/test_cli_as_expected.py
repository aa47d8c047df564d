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
