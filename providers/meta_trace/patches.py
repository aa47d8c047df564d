"""Process-wide patches that make a meta-device trace behave like a GPU training step.

Each patch fixes one way the meta (or CPU) path would differ from what a CUDA run of the same
Hugging Face code allocates or computes:

* attention: on meta, ``F.scaled_dot_product_attention`` falls back to the math path that keeps the
  full S x S score matrix; a GPU run uses a flash kernel that keeps only the output and a logsumexp.
  We register an attention function that calls the flash-style CPU kernel, which has a meta
  implementation with exactly those outputs;
* FLOPs: ``FlopCounterMode`` has no formula for that CPU kernel (nor for ``_grouped_mm``, which the
  MoE experts use), so attention and expert FLOPs would silently count as zero;
* optimizer: the Trainer's default on CUDA is the fused AdamW (in place, no parameter-sized
  temporaries); torch refuses ``fused=True`` for meta tensors only because of a device list;
* masks: transformers' packed-sequence detection reads tensor values, impossible on meta;
* dropout: off CUDA, ``F.dropout`` multiplies by a noise tensor of the input's dtype and saves it
  (4 bytes per element for fp32 LoRA inputs); CUDA's fused kernel saves a bool mask (1 byte). The
  trace calls the fused op (``native_dropout``, which has CPU and meta kernels) like CUDA does;
* TRL's fused LM head: on CUDA, Triton kernels fold each logits tile in place; elsewhere torch ops
  make several fp32 tile-sized temporaries and fp32 copies for the gradient matmuls. On meta the
  folds (values only) become no-ops and the accumulation CUDA's in-place ``addmm(out_dtype=fp32)``;
* autocast on meta: ``torch.is_autocast_enabled("meta")`` and ``torch.autocast("meta", ...)`` raise
  (TRL's fused LM head asks, PEFT's MoE expert LoRA turns autocast off); autocast never runs on
  meta, so the answers are False and a no-op context.

All patches are idempotent; the context managers undo what they change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
import torch.optim.optimizer as torch_optimizer
from torch.utils import flop_counter

ATTN_IMPLEMENTATION = "tuneplan_fused_cpu"  # no "flash" in it: transformers would look for a kernel
_FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_FLASH_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
_ATTENTION_OPS = (_FLASH, _FLASH_BACKWARD)


def flash_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """Attention as a flash kernel does it: saves q, k, v, output and logsumexp, nothing S x S.

    Grouped-query attention is passed through without repeating k and v (the kernel broadcasts
    heads, like SDPA's ``enable_gqa`` on CUDA). Dropout is left out: GPU flash kernels regenerate
    it from the RNG state in backward, so it stores no mask. Sliding windows and padding masks are
    not applied; neither changes what a flash kernel keeps in memory.
    """
    causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
    causal = bool(causal) and query.shape[2] > 1
    out, _ = _FLASH(query, key, value, 0.0, causal, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def register_attention() -> str:
    """Make ``attn_implementation=ATTN_IMPLEMENTATION`` available to every transformers model.

    The name is deliberately not registered as a mask implementation, so transformers builds no
    mask at all (no S x S bool tensor, and no data-dependent packed-sequence check on meta).
    """
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_IMPLEMENTATION, flash_attention_forward)
    return ATTN_IMPLEMENTATION


def _flash_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """Forward FLOPs with torch's own SDPA convention (causal masking not halved)."""
    return flop_counter.sdpa_flop_count(query, key, value)


def _flash_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    """Backward FLOPs with torch's own SDPA convention (about 2.5x the forward)."""
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


def _grouped_mm_flops(a, b, *args, out_shape=None, **kwargs) -> int:
    """MoE expert matmuls: every row meets exactly one expert, so count 2 x rows x k x n."""
    if len(a) == 3 and len(b) == 2:
        return 2 * a[1] * a[2] * b[1]
    rows = 1
    for dim in a:
        rows *= dim
    return 2 * rows * b[-1]


def register_flop_formulas() -> None:
    """Give FlopCounterMode formulas for the CPU flash kernel and grouped matmuls (once)."""
    formulas = {
        _FLASH: _flash_flops,
        _FLASH_BACKWARD: _flash_backward_flops,
        torch.ops.aten._grouped_mm: _grouped_mm_flops,
    }
    for op, formula in formulas.items():
        if op not in flop_counter.flop_registry:
            flop_counter.register_flop_formula(op)(formula)


def attention_flops(counts: dict) -> int:
    """The part of a FLOP count (by op packet) that comes from the attention kernels."""
    return sum(counts.get(op, 0) for op in _ATTENTION_OPS)


@contextlib.contextmanager
def fused_optimizers_on_meta() -> Iterator[None]:
    """Let ``fused=True`` optimizers accept meta tensors (the fused kernels have meta functions)."""
    original = torch_optimizer._get_fused_kernels_supported_devices

    def with_meta() -> list[str]:
        return [*original(), "meta"]

    torch_optimizer._get_fused_kernels_supported_devices = with_meta
    try:
        yield
    finally:
        torch_optimizer._get_fused_kernels_supported_devices = original


@contextlib.contextmanager
def no_packed_sequence_check() -> Iterator[None]:
    """Skip transformers' packed-sequence detection, which calls ``bool()`` on a tensor.

    Traced batches are never packed, so "no packing" (None) is the right answer; the detection is
    only reached when a model uses a mask-building attention implementation (e.g. ``sdpa``).
    """
    from transformers import masking_utils

    original = masking_utils.find_packed_sequence_indices
    masking_utils.find_packed_sequence_indices = lambda position_ids: None
    try:
        yield
    finally:
        masking_utils.find_packed_sequence_indices = original


@contextlib.contextmanager
def autocast_on_meta() -> Iterator[None]:
    """Make autocast queries and contexts for the meta device no-ops instead of errors."""
    original_query, original_class = torch.is_autocast_enabled, torch.autocast

    def is_enabled(*args: object) -> bool:
        return False if args and args[0] == "meta" else original_query(*args)

    def autocast(device_type: str, *args: object, **kwargs: object) -> contextlib.AbstractContextManager:
        if device_type == "meta":
            return contextlib.nullcontext()
        return original_class(device_type, *args, **kwargs)

    torch.is_autocast_enabled, torch.autocast = is_enabled, autocast
    try:
        yield
    finally:
        torch.is_autocast_enabled, torch.autocast = original_query, original_class


def _fused_dropout(input: torch.Tensor, p: float = 0.5, training: bool = True,
                   inplace: bool = False) -> torch.Tensor:
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return input * 0.0
    return torch.native_dropout(input, p, True)[0]


@contextlib.contextmanager
def cuda_style_dropout() -> Iterator[None]:
    """Route ``F.dropout`` (and so ``nn.Dropout``) to the fused kernel CUDA uses: bool mask saved."""
    original = F.dropout
    F.dropout = _fused_dropout
    try:
        yield
    finally:
        F.dropout = original


def _no_fold(*args: object, **kwargs: object) -> None:
    """The Triton folds write into buffers that already exist: nothing is allocated."""


def _addmm_out_fp32(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dtype in (torch.float16, torch.bfloat16):
        torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
    else:
        acc.addmm_(a, b)


@contextlib.contextmanager
def chunked_head_as_on_cuda(enabled: bool) -> Iterator[None]:
    """Make TRL's fused LM head allocate on meta what its CUDA/Triton path allocates."""
    if not enabled:
        yield
        return
    from trl.kernels import chunked_logprob as kernel

    saved = kernel._forward_tile, kernel._backward_tile, kernel._addmm_fp32
    kernel._forward_tile, kernel._backward_tile, kernel._addmm_fp32 = _no_fold, _no_fold, _addmm_out_fp32
    try:
        yield
    finally:
        kernel._forward_tile, kernel._backward_tile, kernel._addmm_fp32 = saved
