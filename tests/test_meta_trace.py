"""The meta-device tracer measures what a real CPU step allocates, and counts FLOPs as 6·N·T.

A tiny Llama is traced twice, once on the meta device and once with real tensors on the CPU: the
peaks must agree (the meta trace is what ``tuneplan plan --trace`` reports for real sizes).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from planner.errors import BadInput
from providers.meta_trace import trace_training_step

TINY = {"model_type": "llama", "hidden_size": 128, "intermediate_size": 344, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000}
SEQ, BATCH = 256, 2
needs_train = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("torch", "transformers", "peft")),
    reason="needs the train extra (torch, transformers, peft)")


def _trace(device: str, **settings):
    return trace_training_step(TINY, seq_len=SEQ, micro_batch=BATCH, device=device, **settings)


def test_import_does_not_load_torch() -> None:
    code = ("import sys, providers.meta_trace; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("reason, settings", [
    ("4-bit", {"method": "qlora"}),
    ("4-bit", {"quantization": "nf4"}),
    ("fp16", {"precision": "fp16"}),
    ("8-bit", {"optimizer": "adamw_8bit"}),
    ("task", {"task": "pretrain"}),
])
def test_untraceable_settings_say_why(reason: str, settings: dict) -> None:
    with pytest.raises(BadInput, match=reason):
        trace_training_step(TINY, **settings)


@needs_train
@pytest.mark.slow
@pytest.mark.parametrize("settings", [
    {"method": "full", "precision": "fp32"},
    {"method": "lora", "precision": "fp32"},
    {"method": "lora", "precision": "bf16", "grad_ckpt": True},
    {"method": "full", "precision": "fp32", "task": "dpo"},
], ids=["full-fp32", "lora-fp32", "lora-bf16-ckpt", "dpo-full-fp32"])
def test_meta_trace_equals_real_cpu_trace(settings: dict) -> None:
    meta, cpu = _trace("meta", **settings), _trace("cpu", **settings)
    assert meta.peak_bytes == pytest.approx(cpu.peak_bytes, rel=0.01)
    assert meta.peak_step1_bytes == pytest.approx(cpu.peak_step1_bytes, rel=0.01)
    assert meta.peak_phase == cpu.peak_phase
    assert meta.flops_per_step == cpu.flops_per_step
    assert (meta.params_total, meta.params_trainable) == (cpu.params_total, cpu.params_trainable)


@needs_train
def test_step_two_holds_adam_state_and_peaks_before_any_gradient() -> None:
    result = _trace("meta", method="full", precision="fp32")
    assert result.breakdown["optimizer_state"] == pytest.approx(2 * result.param_bytes, abs=4096)
    assert result.peak_bytes - result.peak_step1_bytes == pytest.approx(2 * result.param_bytes, rel=0.01)
    assert result.peak_phase == "backward" and result.breakdown["gradients"] == 0


@needs_train
def test_full_step_flops_are_six_n_t_plus_attention() -> None:
    result = _trace("meta", method="full", precision="fp32")
    embedding = TINY["vocab_size"] * TINY["hidden_size"]
    norms = (2 * TINY["num_hidden_layers"] + 1) * TINY["hidden_size"]
    matmul_params = result.params_total - embedding - norms
    tokens = SEQ * BATCH
    head_dim = TINY["hidden_size"] // TINY["num_attention_heads"]
    attention = 14 * BATCH * SEQ**2 * TINY["num_attention_heads"] * head_dim * TINY["num_hidden_layers"]
    assert result.tokens_per_step == tokens
    assert result.attention_flops_per_step == attention
    assert result.flops_per_step == pytest.approx(6 * matmul_params * tokens + attention, rel=0.02)


@needs_train
@pytest.mark.slow
def test_tracker_agrees_with_torch_memtracker() -> None:
    """The lean tracker keeps MemTracker's accounting: same peak on a step both can trace."""
    import torch
    from torch.distributed._tools.mem_tracker import MemTracker

    from providers.meta_trace import build, steps

    cfg = build.make_config(TINY, "sft", 2)
    model, _ = build.build_models(cfg, task="sft", method="full", dtype=torch.float32, device="cpu",
                                  lora={}, spectrum_fraction=1.0, grad_ckpt=False)
    optimizer = steps.make_optimizer("adamw", list(model.parameters()))
    batch = steps.make_batch("sft", BATCH, SEQ, TINY["vocab_size"], 2, "cpu")
    tracker = MemTracker()
    tracker.track_external(model, optimizer, *batch.values())
    with tracker:
        steps.sft_loss(steps.Forward(None), model, batch, chunked=False).backward()
        optimizer.step()
    stock = sum(snap["Total"] for snap in tracker.get_tracker_snapshot("peak").values())
    ours = _trace("cpu", method="full", precision="fp32").peak_step1_bytes
    assert ours == pytest.approx(stock, rel=0.005)
