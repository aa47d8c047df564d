"""Issue 26, item 5: ``tuneplan eval RUN`` after a pull. Real tiny runs on this CPU, then the run's own task
template compares the base model with the fine-tuned one: answers side by side for sft; the result is stored with
the run (a file in its folder, a summary in the ledger). Each task's metric is tested with its template
(tests/templates/test_template_classify.py) or its task's end-to-end test (test_ner, test_reward, test_rerank)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _launch(capsys, tmp_path, example: str, **changes) -> dict:
    spec = yaml.safe_load((ROOT / "examples" / f"{example}.yaml").read_text())
    spec["data"] = {k: str(ROOT / "examples" / v) if k in ("train", "eval") else v for k, v in spec["data"].items()}
    spec.update(changes)
    path = tmp_path / f"{example}.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(capsys, "launch", str(path), "--yes", "--no-validate")
    assert code == 0, err
    return next(r for r in json.loads(run_cli(capsys, "jobs", "--json")[1]) if r["name"] == spec["name"])


@pytest.fixture
def ledger_here(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.slow
def test_sft_answers_side_by_side_from_the_eval_split_or_given_prompts(capsys, tmp_path, ledger_here):
    record = _launch(capsys, tmp_path, "tiny-sft")
    code, out, err = run_cli(capsys, "eval", record["run_id"][:12], "--limit", "2", "--max-new-tokens", "6")
    assert code == 0, err
    assert out.count("fine-tuned") == 2 and "expected" in out and "the cat says meow" in out
    stored = sorted((Path(record["runs_dir"]) / "eval").glob("evaluation-*.json"))
    assert len(stored) == 1, "stored with the run"
    result = json.loads(stored[0].read_text())
    assert result["source"] == "eval split" and len(result["examples"]) == 2
    assert all(set(e) == {"prompt", "expected", "base", "tuned"} for e in result["examples"])
    assert result["examples"][0]["base"] != result["examples"][0]["tuned"], "the adapter changed the answer"
    (again,) = json.loads(run_cli(capsys, "jobs", "--json")[1])
    assert again["metrics"]["evaluation"]["file"] == str(stored[0]), "the ledger knows where the result is"
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"messages": [{"role": "user", "content": "what does the owl say?"},
                                                {"role": "assistant", "content": "the owl says hoot"}]}) + "\n")
    code, out, err = run_cli(capsys, "eval", record["run_id"], "--prompts", str(prompts), "--json",
                             "--max-new-tokens", "4")
    assert code == 0, err
    asked = json.loads(out)
    assert asked["source"] == "prompts from prompts.jsonl" and [e["expected"] for e in asked["examples"]] == [
        "the owl says hoot"]


def test_a_run_without_a_model_is_refused_plainly(capsys, tmp_path, ledger_here):
    code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--yes")
    assert code == 0, err
    (smoke,) = json.loads(run_cli(capsys, "jobs", "--json")[1])
    code, _, err = run_cli(capsys, "eval", smoke["run_id"])
    assert code == 2 and "smoke run: there is no model to evaluate" in err


def test_what_a_model_wrote_is_shown_as_plain_text(capsys):
    from tuneplan.cli.eval_cmd import show

    show({"source": "eval split", "device": "cpu", "wall_s": 1.0, "examples": [
        {"prompt": "hi", "expected": "hello", "base": "\x1b]52;c;cm0gLXJmIH4=\x07boom", "tuned": "x" * 5000}]})
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "boom" in out
    assert max(len(line) for line in out.splitlines()) < 1000, "a runaway answer is cut"
