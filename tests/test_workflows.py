"""Issue 26 (the weekly workflows), the parts landed so far: the spec's JSON Schema and starter specs, and the
scripting conventions (``report --json``, ``reap --json`` with an exit code that says something is left running)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from planner.spec import load_spec
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_spec_schema_is_the_model_and_accepts_every_example(capsys):
    code, out, err = run_cli(capsys, "spec", "schema")
    assert code == 0, err
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert {"model", "training", "resources", "tags"} <= set(schema["properties"])
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        assert not list(validator.iter_errors(yaml.safe_load(example.read_text()))), example.name
    wrong = {"model": "x", "training": {"seq_len": "long"}, "resorces": {}}
    problems = sorted(e.message for e in validator.iter_errors(wrong))
    assert len(problems) == 2, "both mistakes at once: a bad value and an unknown key"


@pytest.mark.parametrize("task", ["sft", "dpo", "classify", "embed", "smoke"])
def test_a_starter_spec_loads_and_plans(task, capsys, tmp_path):
    out = tmp_path / f"{task}.yaml"
    code, _, err = run_cli(capsys, "spec", "new", "--task", task, "--name", f"my-{task}", "--output", str(out))
    assert code == 0, err
    spec = load_spec(out)
    assert spec.task == task and spec.name == f"my-{task}" and "# " in out.read_text()
    if task != "smoke":
        code, plan, err = run_cli(capsys, "plan", "--spec", str(out), "--json", "--no-calibration")
        assert code == 0, err
        assert json.loads(plan)["job"]["task"] == task
    code, _, err = run_cli(capsys, "spec", "new", "--task", task, "--output", str(out))
    assert code == 2 and "exists" in err, "a starter never overwrites a spec"


def test_report_and_reap_speak_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run_cli(capsys, "report", "--json")
    assert code == 0, err
    assert json.loads(out)["total"]["runs"] == 0
    code, _, err = run_cli(capsys, "report", "--json", "--format", "csv")
    assert code == 2 and "--json is --format json" in err
    code, out, err = run_cli(capsys, "reap", "--json")
    assert code == 0, err
    assert json.loads(out) == {"items": [], "not_asked": [], "left_running": 0}
