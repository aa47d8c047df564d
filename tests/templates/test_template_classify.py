"""templates/classify.py: a tiny BERT trained from scratch must separate three toy topics."""

from __future__ import annotations

import pytest
from template_helpers import (
    TOPICS,
    assert_loss_fell,
    assert_succeeded,
    read_metrics,
    run_in_process,
    topic_rows,
    verify_manifest,
)

pytestmark = pytest.mark.slow


def test_classifier_beats_chance_and_reports_accuracy_and_macro_f1(classify_run):
    assert_succeeded(classify_run)
    assert "data.format 'chat' is not a classify format" in classify_run.stderr
    assert_loss_fell(classify_run, by=0.2)
    metrics = read_metrics(classify_run.out, "classify", "full")
    # Chance is 1/3. The run is reproducible (the template seeds torch before the new head is made): this
    # 2-layer BERT trained from scratch for 200 steps reaches 1.0; 0.7 leaves room for other torch versions.
    assert metrics["eval"]["eval_accuracy"] >= 0.7
    assert metrics["eval"]["eval_macro_f1"] >= 0.7


def test_classifier_reloads_with_its_label_names_and_predicts(classify_run):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    verify_manifest(classify_run.out)
    model = AutoModelForSequenceClassification.from_pretrained(classify_run.out).eval()
    tokenizer = AutoTokenizer.from_pretrained(classify_run.out)
    assert model.config.id2label == dict(enumerate(sorted(TOPICS)))
    assert model.config.label2id == {name: i for i, name in enumerate(sorted(TOPICS))}
    rows = topic_rows(30, seed=3)  # texts never seen in training
    with torch.no_grad():
        logits = model(**tokenizer([r["text"] for r in rows], padding=True, return_tensors="pt")).logits
    predicted = [model.config.id2label[i] for i in logits.argmax(-1).tolist()]
    assert sum(p == r["label"] for p, r in zip(predicted, rows, strict=True)) / len(rows) >= 0.7


def test_lora_classifier_holds_out_eval_rows_and_keeps_label_names(classify_lora_run, workspace):
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    assert_succeeded(classify_lora_run)
    assert_loss_fell(classify_lora_run, by=0.3)
    assert "holding out 6 train rows" in classify_lora_run.stderr
    verify_manifest(classify_lora_run.out)
    metrics = read_metrics(classify_lora_run.out, "classify", "lora")
    assert metrics["eval"]["eval_accuracy"] > 0.8 and metrics["eval"]["eval_macro_f1"] > 0.8
    config = AutoConfig.from_pretrained(classify_lora_run.out)  # the adapter dir keeps the label names
    assert config.id2label == dict(enumerate(sorted(TOPICS)))
    base = AutoModelForSequenceClassification.from_pretrained(workspace.minilm, config=config)
    model = PeftModel.from_pretrained(base, classify_lora_run.out).eval()
    rows = topic_rows(30, seed=4)
    tokenizer = AutoTokenizer.from_pretrained(classify_lora_run.out)
    batch = tokenizer([r["text"] for r in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    predicted = [config.id2label[i] for i in logits.argmax(-1).tolist()]
    assert sum(p == r["label"] for p, r in zip(predicted, rows, strict=True)) / len(rows) >= 0.7
    merged = AutoModelForSequenceClassification.from_pretrained(classify_lora_run.out / "merged").eval()
    assert merged.config.id2label == config.id2label
    with torch.no_grad():
        merged_logits = merged(**batch).logits
    assert torch.allclose(logits, merged_logits, atol=1e-4)
    verdict = read_metrics(classify_lora_run.out, "classify", "lora")["merge"]
    assert verdict["ok"] and verdict["inputs"] == 4 and verdict["top1_agreement"] == 1.0, verdict
    assert (classify_lora_run.out / "merged" / "merge.json").is_file()


def test_evaluate_reads_the_held_out_rows_as_training_did_and_compares_base_and_trained(classify_lora_run, tmp_path):
    """``classify.py --evaluate OUT`` (what ``tuneplan eval`` runs): the same held-out rows and the same model as the
    training's own evaluation, beside the fresh-head base it started from."""
    import json

    target = tmp_path / "evaluation.json"
    result = run_in_process("classify", ["--config", str(classify_lora_run.out.parent / "job.json"), "--evaluate",
                                         str(classify_lora_run.out), "--eval-out", str(target), "--eval-limit", "3"])
    assert result.code == 0, result.stderr
    found = json.loads(target.read_text())
    trained = read_metrics(classify_lora_run.out, "classify", "lora")["eval"]
    assert found["source"].startswith("held-out train rows") and len(found["examples"]) == 3
    assert found["metrics"]["tuned"]["accuracy"] == pytest.approx(trained["eval_accuracy"])
    assert set(found["metrics"]["base"]) == {"accuracy", "macro_f1"}
    assert {e["expected"] for e in found["examples"]} <= set(TOPICS)
