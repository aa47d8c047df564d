"""Issue 20, item 4: ``task: rerank``. A cross-encoder trained on labelled query-passage pairs (hard negatives
labelled 0): MRR@10 on held-out queries rises from the untrained head, ``tuneplan eval`` reads the same scores,
bad labels are one line, and the planner prices the job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_inprocess import run_cli
from tests.tiny_launch import launch_example

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_tiny_reranker_learns_to_put_the_right_passage_first(capsys, tmp_path, monkeypatch):
    record, artifacts = launch_example(capsys, tmp_path, monkeypatch, "tiny-rerank")
    scores = json.loads((artifacts / "metrics.json").read_text())["eval"]
    assert scores["rerank_mrr@10"] >= 0.9 and scores["rerank_mrr@10"] > scores["before"]["rerank_mrr@10"] + 0.1, scores
    code, out, err = run_cli(capsys, "eval", record["run_id"], "--json", "--limit", "2")
    assert code == 0, err
    result = json.loads(out)
    assert result["metrics"]["tuned"]["rerank_mrr@10"] == pytest.approx(scores["rerank_mrr@10"])
    assert all(e["tuned"] in e["expected"] for e in result["examples"]), "the trained model puts a relevant one first"


def test_a_label_that_is_not_a_relevance_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "q", "passage": "p", "label": "yes"}) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "templates" / "rerank.py"), "--model", "m", "--output-dir",
                           str(tmp_path / "out"), "--set", f"data.train={bad}", "--validate-only"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "'label' must be 1 (relevant), 0 (not)" in done.stderr


def test_the_planner_prices_a_rerank_job_and_refuses_lora(capsys):
    base = ["plan", "--spec", str(ROOT / "examples" / "tiny-rerank.yaml"), "--json", "--no-calibration"]
    code, out, err = run_cli(capsys, *base)
    assert code == 0, err
    assert json.loads(out)["job"]["task"] == "rerank"
    code, _, err = run_cli(capsys, *base, "--method", "lora")
    assert code == 2 and "task rerank trains every weight" in err
