"""Training-memory estimator: hand-computed terms, the breakdown contract, and physical sanity."""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.estimate.memory import BREAKDOWN_KEYS, estimate_memory
from planner.estimate.params import lora_params
from planner.estimate.setup import TrainingSetup
from planner.errors import BadInput
from planner.models import resolve_local
from planner.units import GIB

LLAMA8B = resolve_local("meta-llama/Llama-3.1-8B").arch
QWEN7B = resolve_local("Qwen/Qwen2.5-7B-Instruct").arch
BERT = resolve_local("google-bert/bert-base-uncased").arch


def gib(setup, arch=LLAMA8B):
    return estimate_memory(arch, setup).nvidia_smi / GIB


def test_breakdown_sums_to_peak():
    m = estimate_memory(LLAMA8B, TrainingSetup(method="qlora", quant="nf4", micro_batch=2))
    assert set(m.breakdown) == set(BREAKDOWN_KEYS)
    assert sum(m.breakdown.values()) == pytest.approx(m.nvidia_smi)


def test_bf16_weights_and_adam_states_by_hand():
    m = estimate_memory(LLAMA8B, TrainingSetup(method="full", optimizer="adamw"))
    assert m.breakdown["weights"] / GIB == pytest.approx(8_030_261_248 * 2 / GIB)
    assert m.static.optimizer / GIB == pytest.approx(8_030_261_248 * 4 / GIB)


def test_nf4_weights_by_hand():
    m = estimate_memory(LLAMA8B, TrainingSetup(method="qlora", quant="nf4"))
    linear = 32 * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336)
    expected = linear * 0.516 + (8_030_261_248 - linear) * 2
    assert m.breakdown["weights"] == pytest.approx(expected)


def test_lora_parameter_count_by_hand():
    setup = TrainingSetup(method="lora", lora_r=16, lora_targets=("q_proj", "v_proj"))
    # q: 16·(4096+4096), v: 16·(4096+1024), 32 layers: the PEFT number for Llama-3.1-8B r16 q,v.
    assert lora_params(LLAMA8B, setup) == 32 * 16 * (8192 + 5120) == 6_815_744


def test_method_ordering_for_an_8b_model():
    full = gib(TrainingSetup(method="full"))
    lora = gib(TrainingSetup(method="lora"))
    qlora = gib(TrainingSetup(method="qlora", quant="nf4"))
    assert qlora < lora < full


def test_more_tokens_more_memory_and_checkpointing_helps():
    base = TrainingSetup(method="lora", grad_ckpt=False, seq_len=1024)
    assert gib(replace(base, micro_batch=4)) > gib(base)
    assert gib(replace(base, seq_len=4096)) > gib(base)
    assert gib(replace(base, grad_ckpt=True)) < gib(base)


def test_sharding_splits_weights_and_states_across_gpus():
    single = estimate_memory(LLAMA8B, TrainingSetup(method="full"))
    fsdp = estimate_memory(LLAMA8B, TrainingSetup(method="full", gpus=8, sharding="fsdp"))
    ddp = estimate_memory(LLAMA8B, TrainingSetup(method="full", gpus=8, sharding="ddp"))
    assert fsdp.static.optimizer == pytest.approx(single.static.optimizer / 8)
    assert fsdp.nvidia_smi < single.nvidia_smi < ddp.nvidia_smi


def test_dpo_holds_two_sequences_and_a_reference_for_full():
    sft = gib(TrainingSetup(task="sft", method="full"), QWEN7B)
    dpo = gib(TrainingSetup(task="dpo", method="full"), QWEN7B)
    assert dpo - sft > 14  # a 15 GiB bf16 reference copy plus the rejected sequence


def test_paged_optimizer_state_is_not_counted_on_the_gpu():
    plain = estimate_memory(LLAMA8B, TrainingSetup(method="full", optimizer="adamw_8bit"))
    paged = estimate_memory(LLAMA8B, TrainingSetup(method="full", optimizer="paged_adamw_8bit"))
    assert paged.static.optimizer == 0 and plain.static.optimizer > 14 * GIB
    assert any("paged" in note for note in paged.notes)


def test_fused_heads_remove_most_logits_memory():
    full_logits = estimate_memory(QWEN7B, TrainingSetup(method="lora", fused_lm_head=False))
    liger = estimate_memory(QWEN7B, TrainingSetup(method="lora", kernels="liger", fused_lm_head=False))
    trl = estimate_memory(QWEN7B, TrainingSetup(method="lora"))  # TRL >= 1.0's fused LM head (the templates)
    # 12 bytes per token and vocabulary entry: the fp32 log-softmax and two fp32 gradients (traced)
    assert full_logits.breakdown["logits"] == pytest.approx(2048 * 152064 * 12)
    assert liger.breakdown["logits"] < full_logits.breakdown["logits"] / 10
    assert trl.breakdown["logits"] < full_logits.breakdown["logits"] / 10


def test_classifier_has_no_vocabulary_logits():
    m = estimate_memory(BERT, TrainingSetup(task="classify", method="full", precision="fp32", seq_len=512))
    assert m.breakdown["logits"] == 0 and m.static.params_trainable > 109_000_000


@pytest.mark.parametrize("changes, message", [
    (dict(method="full", quant="nf4"), "full fine-tune cannot"),
    (dict(method="spectrum", quant="nf4"), "spectrum"),
    (dict(task="classify", method="qlora", quant="nf4"), "classify"),
    (dict(gpus=2, sharding="none"), "several GPUs"),
    (dict(sharding="fsdp"), "needs --gpus"),
    (dict(seq_len=0), "must be positive"),
])
def test_impossible_combinations_are_rejected(changes, message):
    with pytest.raises(BadInput, match=message):
        TrainingSetup(**changes).validated()
