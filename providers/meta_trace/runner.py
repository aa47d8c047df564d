"""Run the traced training steps: build, track, two steps, count FLOPs in the second.

Two steps, because the optimizer state only exists from the first ``optimizer.step()`` on: the
second step's peak is the one a long run sees. Gradients are released with
``zero_grad(set_to_none=True)`` after each step, as the Trainer does.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

import torch

from providers.meta_trace import build, patches, steps
from providers.meta_trace.tracker import PeakTracker

if TYPE_CHECKING:
    from providers.meta_trace import StepPeak, TraceRequest, TraceResult

_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def _train_step(tracker: PeakTracker, loss_fn, optimizer: torch.optim.Optimizer, batch: dict, generate=None) -> None:
    if generate is not None:  # GRPO: the answers are generated before the step trains on them
        tracker.phase = "generation"
        generate(batch)
    tracker.phase = "forward"
    loss = loss_fn(batch)
    tracker.phase = "backward"
    loss.backward()
    del loss
    tracker.phase = "optimizer"
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    tracker.phase = "idle"


def _step_peak(tracker: PeakTracker) -> StepPeak:
    from providers.meta_trace import StepPeak

    return StepPeak(tracker.peak_bytes, tracker.peak_phase, tracker.peak_op, dict(tracker.peak_breakdown))


def _patched(req: TraceRequest) -> ExitStack:
    """Every patch that makes the traced step allocate what the CUDA step allocates."""
    stack = ExitStack()
    for context in (patches.fused_optimizers_on_meta(), patches.no_packed_sequence_check(),
                    patches.autocast_on_meta(), patches.cuda_style_dropout(),
                    patches.chunked_head_as_on_cuda(req.lm_head == "chunked" and req.device == "meta")):
        stack.enter_context(context)
    return stack


def _tokens(req: TraceRequest) -> int:
    rows = 2 * req.micro_batch if req.task in ("dpo", "embed") else req.micro_batch
    return rows * req.seq_len


def _setup(req: TraceRequest, cfg: object) -> dict:
    """Models, optimizer, bound loss and the two batches, built the way the templates build them."""
    lora = {"r": req.lora_r, "alpha": req.lora_alpha, "dropout": req.lora_dropout,
            "targets": req.lora_targets}
    model, reference = build.build_models(
        cfg, task=req.task, method=req.method, dtype=_DTYPES[req.precision], device=req.device,
        lora=lora, spectrum_fraction=req.spectrum_fraction, grad_ckpt=req.grad_ckpt, kl_coef=req.kl_coef)
    if req.lm_head == "chunked":
        steps.install_chunked_head(model, reference)
    forward = steps.Forward(torch.bfloat16 if req.amp else None)
    vocab = getattr(cfg, "vocab_size", 2)
    return {
        "model": model, "reference": reference,
        "optimizer": steps.make_optimizer(req.optimizer, [p for p in model.parameters() if p.requires_grad]),
        "loss_fn": steps.loss_function(req.task, forward, model, reference, req.lm_head == "chunked",
                                       req.completion_len, req.kl_coef),
        "generate": (lambda batch: steps.generate_answers(forward, model, reference, batch, req.completion_len,
                                                          req.kl_coef)) if req.task == "grpo" else None,
        "batches": [steps.make_batch(req.task, req.micro_batch, req.seq_len, vocab, req.num_labels,
                                     req.device) for _ in range(2)],
    }


def _trace_two_steps(parts: dict) -> tuple[PeakTracker, list[StepPeak]]:
    """Step 1, then step 2 with FLOPs counted; the peak is restarted between them."""
    tracker = PeakTracker()
    for module in (parts["model"], parts["reference"]):
        if module is not None:
            tracker.track_model(module)
    batches = parts["batches"]
    for batch in batches:
        tracker.track_tensors(*batch.values())
    peaks = []
    with tracker:
        for step in range(2):
            batch = batches.pop(0)
            tracker.reset_peak()
            tracker.count_flops = step == 1
            _train_step(tracker, parts["loss_fn"], parts["optimizer"], batch, parts["generate"])
            del batch
            peaks.append(_step_peak(tracker))
    return tracker, peaks


def run(req: TraceRequest) -> TraceResult:
    """Trace ``req`` and return the peaks of both steps, parameter counts and FLOPs."""
    from providers.meta_trace import TraceResult

    started = time.perf_counter()
    patches.register_flop_formulas()
    cfg = build.make_config(req.config, req.task, req.num_labels)
    build.check_supported(cfg, req.precision)
    with _patched(req):
        parts = _setup(req, cfg)
        total, trainable, param_bytes = build.count_params(parts["model"])
        if parts["reference"] is not None:
            param_bytes += build.count_params(parts["reference"])[2]
        tracker, peaks = _trace_two_steps(parts)
    return TraceResult(
        request=req, step1=peaks[0], step2=peaks[1], params_total=total, params_trainable=trainable,
        param_bytes=param_bytes, flops_per_step=sum(tracker.flops.values()),
        attention_flops_per_step=patches.attention_flops(tracker.flops), tokens_per_step=_tokens(req),
        seconds=time.perf_counter() - started)
