"""``tuneplan plan --trace``: trace one real training step on the meta device beside the analytic plan.

This is the answer for an architecture the analytic model does not know: transformers builds the real
model (no weights, no data) and torch's tracker measures the tensor-byte peak of two training steps.
Needs the ``train`` extra; takes seconds. 4-bit weights cannot be traced, so a QLoRA job is traced
as LoRA on 16-bit weights and the 4-bit saving is applied analytically.
"""

from __future__ import annotations

from typing import Any

from planner.errors import BadInput
from planner.estimate import constants as K
from planner.estimate.memory import estimate_memory
from planner.estimate.setup import TrainingSetup
from planner.models import ResolvedModel
from planner.units import GIB


def trace_payload(model: ResolvedModel, setup: TrainingSetup) -> dict[str, Any]:
    """Traced peak (GiB) with its phase and breakdown, next to the analytic tensor total."""
    if model.config is None:
        raise BadInput(f"no config.json is known for '{model.model_id}' to trace")
    try:
        from providers.meta_trace import trace_training_step
    except ImportError as exc:  # pragma: no cover - only without the package itself
        raise BadInput(f"--trace is unavailable: {exc}") from None
    quantized = setup.quant != "none"
    try:
        result = trace_training_step(
            model.config, task=setup.task, method="lora" if quantized else setup.method,
            precision=setup.precision, optimizer=setup.optimizer, seq_len=setup.seq_len,
            micro_batch=setup.micro_batch, grad_ckpt=setup.grad_ckpt, lora_r=setup.lora_r,
            lora_dropout=setup.lora_dropout,
            lora_targets="all-linear" if setup.lora_targets is None else list(setup.lora_targets),
            spectrum_fraction=setup.spectrum_fraction, lm_head="chunked" if setup.uses_fused_lm_head else "full",
        )
    except ModuleNotFoundError as exc:
        raise BadInput(f"--trace needs the train extra (pip install 'tuneplan[train]'): {exc.name} is missing") from None
    peak = float(result.peak_bytes)
    if quantized:
        linear = model.arch.num_layers * sum(lin.weight_params for lin in model.arch.layer_linears)
        peak -= linear * (K.BYTES[setup.precision] - K.NF4_BYTES_PER_PARAM)
    analytic = estimate_memory(model.arch, setup).tensors
    return {
        "peak_gib": round(peak / GIB, 3),
        "phase": result.peak_phase,
        "breakdown_gib": {k: round(v / GIB, 3) for k, v in result.breakdown.items()},
        "analytic_tensor_gib": round(analytic / GIB, 3),
        "seconds": round(result.seconds, 1),
        "note": ("tensor bytes of a real Hugging Face step traced on the meta device; CUDA context and "
                 "allocator overhead are not in it" + ("; 4-bit weights applied analytically" if quantized else "")),
    }
