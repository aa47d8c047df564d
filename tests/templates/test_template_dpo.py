"""templates/dpo.py: a LoRA preference run on the tiny Llama must learn to prefer the chosen answers."""

from __future__ import annotations

import pytest
from template_helpers import assert_loss_fell, assert_succeeded, read_metrics, verify_manifest

pytestmark = pytest.mark.slow


def test_dpo_lora_learns_the_preferences(dpo_run):
    assert_succeeded(dpo_run)
    assert dpo_run.losses[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference at the start
    assert_loss_fell(dpo_run, by=0.1)
    metrics = read_metrics(dpo_run.out, "dpo", "lora")
    assert metrics["eval"]["eval_rewards/margins"] > 0
    assert metrics["eval"]["eval_rewards/accuracies"] > 0.75


def test_dpo_adapter_reloads_and_generates(dpo_run, workspace):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    verify_manifest(dpo_run.out)
    tokenizer = AutoTokenizer.from_pretrained(dpo_run.out)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(workspace.llama), dpo_run.out)
    merged = AutoModelForCausalLM.from_pretrained(dpo_run.out / "merged")  # outputs.merge_adapter
    verdict = read_metrics(dpo_run.out, "dpo", "lora")["merge"]  # reloaded from disk and compared by the run
    assert verdict["ok"] and verdict["top1_agreement"] == 1.0 and verdict["dtype"] == "float32", verdict
    ids = tokenizer("the owl says", return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        for candidate in (model, merged):
            out = candidate.generate(**ids, max_new_tokens=4, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            assert out.shape[1] > ids["input_ids"].shape[1]
        assert torch.allclose(model(**ids).logits, merged(**ids).logits, atol=1e-4)


def test_dpo_full_trains_the_whole_model_against_a_frozen_reference(dpo_full_run, workspace):
    import torch
    from transformers import AutoModelForCausalLM

    assert_succeeded(dpo_full_run)
    assert_loss_fell(dpo_full_run, by=0.08)
    verify_manifest(dpo_full_run.out)
    read_metrics(dpo_full_run.out, "dpo", "full")
    tuned = AutoModelForCausalLM.from_pretrained(dpo_full_run.out)
    base = AutoModelForCausalLM.from_pretrained(workspace.llama)
    assert not torch.equal(tuned.lm_head.weight, base.lm_head.weight)
