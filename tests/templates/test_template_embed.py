"""templates/embed.py: the real all-MiniLM-L6-v2, trained to retrieve antonyms rather than synonyms, must
retrieve better on held-out words than the untrained model."""

from __future__ import annotations

import json

import pytest
from template_helpers import assert_loss_fell, assert_succeeded, read_metrics, verify_manifest

pytestmark = pytest.mark.slow


def test_retrieval_improves_over_the_untrained_model(embed_run):
    assert_succeeded(embed_run)
    assert_loss_fell(embed_run, by=0.3)
    metrics = read_metrics(embed_run.out, "embed", "full")
    after, before = metrics["eval"], metrics["eval"]["before"]
    assert after["ir_cosine_mrr@10"] > before["ir_cosine_mrr@10"] + 0.05
    assert after["ir_cosine_accuracy@1"] > before["ir_cosine_accuracy@1"]


def test_trained_model_reloads_and_ranks_held_out_antonyms_better(embed_run, workspace):
    from sentence_transformers import SentenceTransformer

    verify_manifest(embed_run.out)
    rows = [json.loads(line) for line in (workspace.data / "opposites_eval.jsonl").read_text().splitlines()]

    def hits_at_1(model) -> int:
        queries = model.encode([r["anchor"] for r in rows], normalize_embeddings=True)
        corpus = [r["positive"] for r in rows] + [r["negative"] for r in rows]
        docs = model.encode(corpus, normalize_embeddings=True)
        return int(((queries @ docs.T).argmax(1) == range(len(rows))).sum())

    tuned = SentenceTransformer(str(embed_run.out), device="cpu")
    assert hits_at_1(tuned) > hits_at_1(SentenceTransformer(str(workspace.minilm), device="cpu"))


def test_lora_on_scored_pairs_trains_an_adapter_that_reloads(embed_lora_run):
    from sentence_transformers import SentenceTransformer

    assert_succeeded(embed_lora_run)
    assert_loss_fell(embed_lora_run, by=0.05)
    verify_manifest(embed_lora_run.out)
    metrics = read_metrics(embed_lora_run.out, "embed", "lora")
    assert {"ir_cosine_mrr@10", "ir_cosine_ndcg@10"} <= set(metrics["eval"]["before"]) & set(metrics["eval"])
    assert (embed_lora_run.out / "adapter_model.safetensors").is_file()
    model = SentenceTransformer(str(embed_lora_run.out), device="cpu")
    assert model.active_adapters() == ["default"]
    assert model.encode(["the opposite of hot"]).shape == (1, 384)


def test_a_merged_embedder_is_a_whole_model_that_embeds_as_the_adapter_does(embed_lora_run):
    import torch
    from sentence_transformers import SentenceTransformer

    verdict = read_metrics(embed_lora_run.out, "embed", "lora")["merge"]  # reloaded from disk and compared by the run
    assert verdict["ok"] and verdict["min_cosine"] > 0.9999, verdict
    listed = {f["path"] for f in verify_manifest(embed_lora_run.out)["files"]}
    assert {"merged/model.safetensors", "merged/merge.json", "adapter_model.safetensors"} <= listed
    merged = SentenceTransformer(str(embed_lora_run.out / "merged"), device="cpu")
    assert not (embed_lora_run.out / "merged" / "adapter_config.json").exists()
    adapted = SentenceTransformer(str(embed_lora_run.out), device="cpu")  # the adapter on the base, as saved
    texts = ["the opposite of hot", "the opposite of big"]
    expected, got = (torch.as_tensor(m.encode(texts)) for m in (adapted, merged))
    assert torch.allclose(expected, got, atol=1e-4)
