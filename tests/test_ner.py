"""Issue 20, item 3: ``task: ner``. The template's BIO rules and sub-word alignment on their own, bad data refused
in one line before any ML import, the planner pricing it, and the tiny example end to end: entity F1 rises from the
untrained model, and ``tuneplan eval`` reads the same F1 the training measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from templates.source.ner import aligned, entities, entity_scores
from tests.cli_inprocess import run_cli
from tests.tiny_launch import launch_example

ROOT = Path(__file__).resolve().parents[1]


def test_entities_follow_the_conll_rule():
    assert entities(["B-PER", "I-PER", "O", "B-ORG"]) == {("PER", 0, 2), ("ORG", 3, 4)}
    assert entities(["I-LOC", "I-LOC"]) == {("LOC", 0, 2)}, "an I- that opens an entity starts one"
    assert entities(["B-PER", "I-ORG"]) == {("PER", 0, 1), ("ORG", 1, 2)}, "a type change ends the entity"
    assert entities(["B-PER", "B-PER"]) == {("PER", 0, 1), ("PER", 1, 2)}
    scores = entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    assert scores["f1"] == 0.0 and scores["token_accuracy"] == pytest.approx(2 / 3), "a partial span is a miss"
    assert entity_scores([["B-X", "O"]], [["B-X", "O"]])["f1"] == 1.0


def test_the_first_sub_word_of_each_word_carries_its_tag():
    from transformers import AutoTokenizer

    from remote_jobs.tiny_models import tiny_model_path

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path("tiny:llama"))  # byte-level BPE: words split
    rows = [{"tokens": ["thunderstorm", "over", "Reykjavik"], "tags": ["B-WEATHER", "O", "B-LOC"]}]
    labels = ["O", "B-LOC", "B-WEATHER"]
    encoded = aligned(tokenizer, rows, labels, 64)
    words, per_token = encoded.word_ids(0), encoded["labels"][0]
    assert len(words) > 3, "the words are split into several sub-words"
    firsts = [i for i, w in enumerate(words) if w is not None and (i == 0 or words[i - 1] != w)]
    assert [per_token[i] for i in firsts] == [2, 0, 1]
    assert all(label == -100 for i, label in enumerate(per_token) if i not in firsts)


def test_bad_ner_data_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "templates" / "ner.py"), "--model", "m", "--output-dir",
                           str(tmp_path / "out"), "--set", f"data.train={bad}", "--validate-only"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "row 1: 2 tokens but 1 tags" in done.stderr
    bad.write_text(json.dumps({"tokens": ["a"], "tags": ["PERSON"]}) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "templates" / "ner.py"), "--model", "m", "--output-dir",
                           str(tmp_path / "out"), "--set", f"data.train={bad}", "--validate-only"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is not BIO" in done.stderr


def test_the_planner_prices_a_ner_job(capsys):
    code, out, err = run_cli(capsys, "plan", "--spec", str(ROOT / "examples" / "tiny-ner.yaml"), "--json",
                             "--no-calibration")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["job"]["task"] == "ner" and plan["peak_vram_gib"] > 0


@pytest.mark.slow
def test_the_tiny_ner_example_learns_entities_and_eval_reads_the_same_f1(capsys, tmp_path, monkeypatch):
    record, artifacts = launch_example(capsys, tmp_path, monkeypatch, "tiny-ner")
    trained = json.loads((artifacts / "metrics.json").read_text())["eval"]
    assert trained["eval_f1"] >= 0.6 and trained["eval_f1"] > trained["before"]["eval_f1"] + 0.3, trained
    code, out, err = run_cli(capsys, "eval", record["run_id"], "--json", "--limit", "2")
    assert code == 0, err
    result = json.loads(out)
    assert result["metrics"]["tuned"]["f1"] == pytest.approx(trained["eval_f1"])
    assert result["metrics"]["base"]["f1"] < result["metrics"]["tuned"]["f1"]
    assert len(result["examples"]) == 2
    assert all(e["expected"] == "(no entity)" or "(FOOD)" in e["expected"] or "(WEATHER)" in e["expected"]
               for e in result["examples"]), "the expected entities are named with their type"


@pytest.mark.slow
def test_a_lora_ner_run_merges_its_adapter_and_the_merge_is_checked(capsys, tmp_path, monkeypatch):
    _, artifacts = launch_example(capsys, tmp_path, monkeypatch, "tiny-ner", method="lora",
                                  outputs={"merge_adapter": True}, training={"max_steps": 120, "learning_rate": 0.02})
    metrics = json.loads((artifacts / "metrics.json").read_text())
    assert metrics["eval"]["eval_f1"] > metrics["eval"]["before"]["eval_f1"] + 0.2
    verdict = json.loads((artifacts / "merged" / "merge.json").read_text())
    assert verdict == metrics["merge"] and verdict["ok"] and verdict["top1_agreement"] == 1.0
    assert (artifacts / "merged" / "model.safetensors").is_file() and (artifacts / "adapter_config.json").is_file()
