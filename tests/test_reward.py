"""Issue 20, item 2: ``task: reward``. A one-output head trained with TRL's RewardTrainer on preference pairs:
the tiny example ranks held-out pairs above chance, ``tuneplan eval`` reads the same pair accuracy, a LoRA run
merges and checks its merge, bad data is one line, and the planner prices the job (two sequences per pair)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_inprocess import run_cli
from tests.tiny_launch import launch_example

ROOT = Path(__file__).resolve().parents[1]


def _launch(capsys, tmp_path, monkeypatch, **changes) -> tuple[dict, Path]:
    return launch_example(capsys, tmp_path, monkeypatch, "tiny-reward", **changes)


@pytest.mark.slow
def test_the_tiny_reward_model_ranks_held_out_pairs_and_eval_agrees(capsys, tmp_path, monkeypatch):
    record, artifacts = _launch(capsys, tmp_path, monkeypatch)
    scores = json.loads((artifacts / "metrics.json").read_text())["eval"]
    assert scores["pair_accuracy"] >= 0.75, scores
    assert scores["pair_margin"] > scores["before"]["pair_margin"] + 0.2, "chosen answers now score clearly higher"
    code, out, err = run_cli(capsys, "eval", record["run_id"], "--json", "--limit", "2")
    assert code == 0, err
    result = json.loads(out)
    assert result["metrics"]["tuned"]["accuracy"] == pytest.approx(scores["pair_accuracy"])
    assert [e["expected"].count(" over ") for e in result["examples"]] == [1, 1]


@pytest.mark.slow
def test_a_lora_reward_model_merges_and_the_merge_is_checked(capsys, tmp_path, monkeypatch):
    _, artifacts = _launch(capsys, tmp_path, monkeypatch, method="lora", outputs={"merge_adapter": True},
                           training={"max_steps": 20, "learning_rate": 5e-3})
    verdict = json.loads((artifacts / "merged" / "merge.json").read_text())
    assert verdict["ok"] and verdict["top1_agreement"] == 1.0, verdict
    config = json.loads((artifacts / "merged" / "config.json").read_text())
    assert len(config["id2label"]) == 1, "one output: the reward"


def test_pairs_without_a_rejected_answer_are_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "the cat says", "chosen": " meow"}) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "templates" / "reward.py"), "--model", "m", "--output-dir",
                           str(tmp_path / "out"), "--set", f"data.train={bad}", "--validate-only"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "rejected" in done.stderr and "Traceback" not in done.stderr


def test_the_planner_prices_a_reward_job_as_two_sequences_per_pair(capsys):
    base = ["plan", "--spec", str(ROOT / "examples" / "tiny-reward.yaml"), "--json", "--no-calibration"]
    code, out, err = run_cli(capsys, *base)
    assert code == 0, err
    reward = json.loads(out)
    code, out, err = run_cli(capsys, *base, "--task", "classify")
    assert code == 0, err
    single = json.loads(out)
    assert reward["job"]["task"] == "reward"
    assert reward["flops_per_token"] > 1.9 * single["flops_per_token"], "chosen and rejected: two passes"
