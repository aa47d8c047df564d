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


@pytest.mark.parametrize("task", ["sft", "dpo", "classify", "embed", "ner", "reward", "rerank", "smoke"])
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


def test_data_inspect_counts_tokens_marks_the_loss_and_feeds_the_plan(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    spec = str(ROOT / "examples" / "tiny-sft.yaml")
    code, out, err = run_cli(capsys, "data", "inspect", spec, "--json")
    assert code == 0, err
    found = json.loads(out)
    assert found["rows"] == 48 and found["format"] == "chat" and found["tokenizer"] == "tiny:llama"
    assert found["tokens"]["min"] > 0 and found["truncated"] == 0 and found["problem_count"] == 0
    assert all("⟦" in e and e.rstrip().endswith("⟧") and "assistant" in e.split("⟦")[0] for e in found["examples"])
    code, plan, err = run_cli(capsys, "plan", "--spec", spec, "--json", "--no-calibration")
    assert code == 0, err
    assert json.loads(plan)["data"]["avg_tokens"] == round(found["tokens"]["mean"]), "the plan uses the counted tokens"


def test_data_inspect_lists_the_problems_a_preprocess_step_would_trip_on(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
        {"messages": [{"role": "narrator", "content": "\x1b[31mred"}, {"role": "assistant", "content": ""}]},
        {"text": "a row of another format"},
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json at all\n" + "[1, 2]\n")
    spec = tmp_path / "job.yaml"
    long_row = {"messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]}
    data.write_text(data.read_text() + json.dumps(long_row) + "\n")
    spec.write_text(f"name: probe\ntask: sft\nmodel: tiny:llama\ndata: {{train: {data}, format: chat}}\n"
                    "training: {seq_len: 64, micro_batch_size: 2}\n")
    code, out, err = run_cli(capsys, "data", "inspect", str(spec))
    assert code == 0, err
    text = " ".join(out.split())
    for expected in ("line 2: no assistant turn", "line 3: unknown role narrator", "line 3: an empty message",
                     "line 4: no messages", "line 5: not JSON", "line 6: not a JSON object",
                     "truncated at seq_len 64: 1 rows"):
        assert expected in text, expected
    assert "\x1b" not in out, "text from the file is printed plain"
    code, _, err = run_cli(capsys, "data", "inspect", str(ROOT / "examples" / "tiny-smoke.yaml"))
    assert code == 2 and "smoke" in err


def test_a_run_that_ends_is_announced_once_to_the_webhook_and_the_desktop(capsys, tmp_path, monkeypatch):
    import http.server
    import threading

    heard: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            heard.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shown = tmp_path / "desktop.txt"
    fake = bin_dir / "notify-send"  # the desktop: a stand-in that records what it was asked to show
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {shown}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("TUNEPLAN_NOTIFY__WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    try:
        code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--yes")
        assert code == 0, err
        code, out, err = run_cli(capsys, "jobs", "--json")
        run_id = json.loads(out)[0]["run_id"]
        for again in (("watch", run_id), ("down", run_id), ("reap",)):  # later observers do not announce again
            run_cli(capsys, *again)
    finally:
        server.shutdown()
    assert len(heard) == 1, heard
    assert heard[0]["run"]["run_id"] == run_id and heard[0]["run"]["state"] == "succeeded"
    assert heard[0]["text"].startswith(f"tuneplan: {run_id} succeeded") and "cost $" in heard[0]["text"]
    assert shown.read_text().count(run_id) == 1
    code, out, _ = run_cli(capsys, "settings", "show")
    assert "127.0.0.1" not in out, "the webhook is a secret"


def test_every_tuneplan_variable_the_code_reads_is_documented_and_a_typo_is_warned(capsys, monkeypatch):
    import re

    from tuneplan.cli.environment import REMOTE_PREFIXES, VARIABLES, unknown_variables

    read = set()
    pattern = re.compile(r"(?:environ(?:\.get)?\(?\[?|getenv\()\s*\"(TUNEPLAN_[A-Z0-9_]+)")
    for folder in ("planner", "providers", "remote_jobs", "tuneplan", "templates"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(pattern.findall(path.read_text(encoding="utf-8")))
    assert read and not {name for name in read if name not in VARIABLES and not name.startswith(REMOTE_PREFIXES)}
    environ = {"TUNEPLAN_LEDGR": "x", "TUNEPLAN_ELECTRICITY__KWH_USD": "0.2", "TUNEPLAN_PULLS__MAX_GIB": "5",
               "TUNEPLAN_ELECTRICITY__KWH": "1", "TUNEPLAN_POD_AGENT": "1", "TUNEPLAN_NOW": "2026-11-26T12:00:00Z"}
    warned = unknown_variables(environ)
    assert len(warned) == 2 and "TUNEPLAN_LEDGR" in warned[1] and "did you mean 'TUNEPLAN_LEDGER'" in warned[1]
    assert "TUNEPLAN_ELECTRICITY__KWH_USD" in warned[0], "a settings key, checked against the settings' fields"
    monkeypatch.setenv("TUNEPLAN_LEDGR", "x")
    code, out, err = run_cli(capsys, "settings", "env", "--json")
    assert code == 0 and {row["name"] for row in json.loads(out)["variables"]} == set(VARIABLES)
    code, _, err = run_cli(capsys, "gpus")
    assert code == 0 and "warning: TUNEPLAN_LEDGR is not a tuneplan variable" in err, "every command warns"


@pytest.mark.slow
def test_a_tracked_run_logs_to_mlflow_and_the_ledger_says_where(capsys, tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    spec = yaml.safe_load((ROOT / "examples" / "tiny-sft.yaml").read_text())
    spec.update(name="tracked", tracking={"backend": "mlflow", "project": "support-bot"})
    spec["data"] = {k: str(ROOT / "examples" / v) if k in ("train", "eval") else v for k, v in spec["data"].items()}
    path = tmp_path / "tracked.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(capsys, "launch", str(path), "--yes", "--no-validate")
    assert code == 0, err
    code, out, _ = run_cli(capsys, "jobs", "--json")
    (record,) = json.loads(out)
    assert record["tracking_url"].startswith("mlflow: sqlite:///") and "mlflow.db experiment" in record["tracking_url"]
    store = Path(record["tracking_url"].split("sqlite:///")[1].split(" ")[0])
    assert store.is_file() and store.parent.name == "artifacts", "the store came home with the outputs, verified"
    with sqlite3.connect(store) as conn:
        assert ("support-bot",) in conn.execute("SELECT name FROM experiments").fetchall()
        assert conn.execute("SELECT count(*) FROM metrics WHERE key = 'loss'").fetchone()[0] > 0
    code, out, _ = run_cli(capsys, "jobs", "tracked")
    assert "tracking" in out and "mlflow" in out
    bundle = Path(json.loads(run_cli(capsys, "jobs", "--json")[1])[0]["runs_dir"]) / "bundle" / "requirements.txt"
    assert not bundle.exists() or "mlflow-skinny==" in bundle.read_text()


def test_every_spec_mistake_is_reported_at_once(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: tiny:llama\ntraning: {seq_len: 64}\nresources: {gpus: -1}\nmethod: lorra\n")
    code, _, err = run_cli(capsys, "plan", "--spec", str(bad))
    assert code == 2 and "3 problems" in err and len(err.strip().splitlines()) == 1
    assert "unknown key 'traning' (did you mean 'training'" in err and "'resources.gpus'" in err
    assert "'method' must be one of" in err and "did you mean 'lora'" in err


def test_the_spec_reference_names_every_field_and_is_what_the_command_writes(capsys):
    import typing

    from planner.spec import DataFormat, JobSpec
    from planner.spec_help import FIELDS, FORMATS
    from planner.spec_reference import leaf_fields

    paths = [path for path, _ in leaf_fields(JobSpec)]
    assert set(paths) == set(FIELDS), "every field has words, and no words name a field that is gone"
    assert set(FORMATS) == set(typing.get_args(DataFormat)), "every data format is described"
    code, out, err = run_cli(capsys, "spec", "reference")
    assert code == 0, err
    assert out == (ROOT / "docs" / "spec-reference.md").read_text(), \
        "docs/spec-reference.md is out of date: tuneplan spec reference -o docs/spec-reference.md"
    assert all(f"`{path}`" in out for path in paths)
    schema = json.loads(run_cli(capsys, "spec", "schema")[1])
    assert schema["$defs"]["TrainingSettings"]["properties"]["seq_len"]["description"] == FIELDS["training.seq_len"]
