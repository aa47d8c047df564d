"""Trace the tensor memory and FLOPs of a real Hugging Face training step, without a GPU.

The model is built from its config on the ``meta`` device (real sizes, no data, < 1 GiB of RAM) or
for real on the CPU (tiny models, used to prove that meta and CPU agree), and two training steps
run under a tracker of live tensor bytes and torch's FLOP counter. The answer is the peak of tensor
bytes a CUDA run of the same code allocates, with its breakdown and phase; CUDA context, allocator
rounding and fragmentation are not in it (the planner calibrates those separately).

Importing this package must stay cheap: torch, transformers and peft are imported only when a
trace runs (``pip install tuneplan[train]``). The submodules ``runner``, ``build``, ``steps``,
``patches``, ``amp`` and ``tracker`` import torch at their top and are loaded on demand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from planner.errors import BadInput

TASKS = ("sft", "dpo", "classify", "embed", "grpo")
METHODS = ("full", "lora", "spectrum")
PRECISIONS = ("bf16", "fp32")
OPTIMIZERS = ("adamw", "adamw_foreach", "adamw_loop", "sgd", "adafactor")
DEVICES = ("meta", "cpu")
LM_HEADS = ("full", "chunked")
GIB = 2**30

_NOT_TRACEABLE = {
    "qlora": "4-bit (QLoRA) weights cannot be traced on the meta device: bitsandbytes packs and "
             "dequantizes them with real data. Plan them analytically (NF4 with double quantization "
             "is about 0.516 bytes per quantized parameter), or trace method='lora' for the rest.",
    "fp16": "fp16 training keeps fp32 master weights under CUDA autocast with a gradient scaler, "
            "which cannot run on meta; trace precision='fp32' (weights) or 'bf16' instead.",
    "8bit": "8-bit and paged optimizers are bitsandbytes CUDA kernels and cannot run on meta; their "
            "state is about 2 bytes per trainable parameter. Trace optimizer='adamw' and subtract.",
}


@dataclass(frozen=True)
class TraceRequest:
    """What to trace; the fields mirror the job spec's training settings."""

    config: Any
    task: str = "sft"
    method: str = "full"
    precision: str = "bf16"
    optimizer: str = "adamw"
    seq_len: int = 2048
    micro_batch: int = 1
    grad_ckpt: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str | tuple[str, ...] = "all-linear"
    spectrum_fraction: float = 0.25
    num_labels: int = 2
    lm_head: str = "full"
    amp: bool = True
    device: str = "meta"
    completion_len: int = 0
    """grpo: the answer's tokens at the end of each ``seq_len`` sequence (prompt + answer); ``micro_batch``
    answers are generated, then trained on."""
    kl_coef: float = 0.0


@dataclass(frozen=True)
class StepPeak:
    """The peak of one training step: bytes, the phase and op where it was reached, its make-up."""

    bytes: int
    phase: str
    op: str
    breakdown: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TraceResult:
    """Measured values of a traced step (bytes are tensor bytes, GiB = 2**30 bytes)."""

    request: TraceRequest
    step1: StepPeak
    step2: StepPeak
    params_total: int
    params_trainable: int
    param_bytes: int
    flops_per_step: int
    attention_flops_per_step: int
    tokens_per_step: int
    seconds: float

    @property
    def peak_bytes(self) -> int:
        """Step-2 peak: optimizer state exists, so this is what every later step reaches."""
        return self.step2.bytes

    @property
    def peak_step1_bytes(self) -> int:
        return self.step1.bytes

    @property
    def peak_phase(self) -> str:
        return self.step2.phase

    @property
    def breakdown(self) -> dict[str, int]:
        return self.step2.breakdown

    @property
    def peak_gib(self) -> float:
        return self.step2.bytes / GIB

    def as_row(self) -> dict[str, Any]:
        """A flat dict (settings, peaks, breakdown in GiB, counts) for a CSV row or JSON."""
        settings = {k: v for k, v in asdict(self.request).items() if k != "config"}
        if not isinstance(settings["lora_targets"], str):
            settings["lora_targets"] = "+".join(settings["lora_targets"])
        row = {**settings, "peak_gib": round(self.peak_gib, 4),
               "peak_step1_gib": round(self.step1.bytes / GIB, 4), "peak_phase": self.step2.phase,
               "peak_step1_phase": self.step1.phase, "peak_op": self.step2.op}
        for name, value in self.step2.breakdown.items():
            row[f"peak_{name}_gib"] = round(value / GIB, 4)
        row.update(peak_bytes=self.step2.bytes, peak_step1_bytes=self.step1.bytes,
                   params_total=self.params_total, params_trainable=self.params_trainable,
                   param_bytes=self.param_bytes, flops_per_step=self.flops_per_step,
                   attention_flops_per_step=self.attention_flops_per_step,
                   tokens_per_step=self.tokens_per_step, trace_seconds=round(self.seconds, 2))
        return row


def trace_training_step(config: Any, *, task: str = "sft", method: str = "full", precision: str = "bf16",
                        optimizer: str = "adamw", seq_len: int = 2048, micro_batch: int = 1,
                        grad_ckpt: bool = False, lora_r: int = 16, lora_alpha: int = 32,
                        lora_dropout: float = 0.05, lora_targets: str | list[str] = "all-linear",
                        spectrum_fraction: float = 0.25, num_labels: int = 2, lm_head: str = "full",
                        amp: bool | None = None, quantization: str = "none",
                        device: str = "meta", completion_len: int = 0, kl_coef: float = 0.0) -> TraceResult:
    """Trace two training steps of ``config`` (an HF config dict or object) and measure them.

    ``amp=None`` means what ``TrainingArguments(bf16=True)`` does for a bf16 run: CUDA autocast
    around the forward (emulated) and fp32 outputs. ``lm_head="chunked"`` uses TRL's fused LM head
    (sft/dpo) instead of materialising the logits. ``device="cpu"`` runs real tensors: tiny models
    only. Raises ``BadInput`` for settings that cannot be traced, with the reason.
    """
    targets = lora_targets if isinstance(lora_targets, str) else tuple(lora_targets)
    req = TraceRequest(
        config=config, task=task, method=method, precision=precision, optimizer=optimizer,
        seq_len=seq_len, micro_batch=micro_batch, grad_ckpt=grad_ckpt, lora_r=lora_r,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_targets=targets,
        spectrum_fraction=spectrum_fraction, num_labels=num_labels, lm_head=lm_head,
        amp=precision == "bf16" if amp is None else amp, device=device, completion_len=completion_len,
        kl_coef=kl_coef)
    validate(req, quantization)
    from providers.meta_trace import runner

    return runner.run(req)


def validate(req: TraceRequest, quantization: str = "none") -> None:
    """Reject what cannot be traced, before anything heavy is imported."""
    if req.method == "qlora" or quantization not in ("none", None):
        raise BadInput(_NOT_TRACEABLE["qlora"], title="cannot trace")
    if req.precision == "fp16":
        raise BadInput(_NOT_TRACEABLE["fp16"], title="cannot trace")
    if "8bit" in req.optimizer or req.optimizer.startswith("paged"):
        raise BadInput(_NOT_TRACEABLE["8bit"], title="cannot trace")
    for name, value, allowed in (("task", req.task, TASKS), ("method", req.method, METHODS),
                                 ("precision", req.precision, PRECISIONS),
                                 ("optimizer", req.optimizer, OPTIMIZERS), ("device", req.device, DEVICES),
                                 ("lm_head", req.lm_head, LM_HEADS)):
        if value not in allowed:
            raise BadInput(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    if req.lm_head == "chunked" and req.task not in ("sft", "dpo", "grpo"):
        raise BadInput("lm_head='chunked' applies to causal LMs (task sft, dpo or grpo) only")
    if req.task == "grpo" and (req.lm_head != "chunked" or not 0 < req.completion_len < req.seq_len):
        raise BadInput("grpo traces TRL's fused LM head (lm_head='chunked') and needs 0 < completion_len < seq_len")
    if req.seq_len < 2 or req.micro_batch < 1 or req.lora_r < 1:
        raise BadInput("seq_len must be >= 2, micro_batch and lora_r >= 1")
    if not 0 < req.spectrum_fraction <= 1:
        raise BadInput(f"spectrum_fraction must be in (0, 1], got {req.spectrum_fraction}")


__all__ = ["StepPeak", "TraceRequest", "TraceResult", "trace_training_step", "validate"]
