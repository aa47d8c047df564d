"""Emulate CUDA bf16 autocast where real autocast cannot run (meta tensors, or to match it on CPU).

The Hugging Face Trainer with ``bf16=True`` wraps the model's forward in ``torch.autocast("cuda",
bfloat16)`` (through accelerate) and converts the forward's bf16 outputs to fp32. That changes what
is stored: fp32 LoRA adapters on a bf16 base save bf16 casts of their inputs instead of fp32 ones,
and fp32-listed ops (softmax, sum, norms, losses) return fp32. Autocast has no meta backend, and
CPU autocast uses different op lists, so the CUDA lists are applied here at the torch-function
level, which (like autocast) sits above autograd: the casts are recorded and saved like the real
ones. Not emulated: regions where the model turns autocast off (rotary tables, a few KiB), and
autocast's weight-cast cache (each adapter weight is cast once per use, which is what happens
anyway).
"""

from __future__ import annotations

import contextlib
from typing import Any, Self

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

_T = torch.Tensor

# Ops that CUDA autocast runs in the low-precision dtype.
LOWER_PRECISION = {
    F.linear, torch.matmul, _T.matmul, _T.__matmul__, _T.__rmatmul__, torch.mm, _T.mm, torch.bmm, _T.bmm,
    torch.addmm, _T.addmm, torch.baddbmm, _T.baddbmm, torch.addbmm, torch.mv, torch.einsum,
    F.scaled_dot_product_attention, F.conv1d, F.conv2d, F.conv3d, F.prelu,
}

# Ops that CUDA autocast runs in fp32 (those with a ``dtype=`` argument only when it is not given).
FLOAT32 = {
    F.softmax, torch.softmax, _T.softmax, F.log_softmax, torch.log_softmax, _T.log_softmax, F.softmin,
    F.cross_entropy, F.nll_loss, F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.kl_div,
    F.binary_cross_entropy_with_logits, F.cosine_similarity, F.normalize, F.layer_norm, F.group_norm,
    F.softplus, torch.exp, _T.exp, torch.log, _T.log, torch.log1p, _T.log1p, torch.rsqrt, _T.rsqrt,
    torch.reciprocal, _T.reciprocal, torch.pow, _T.pow, _T.__pow__, _T.__rpow__, _T.__rtruediv__,
    torch.sum, _T.sum, torch.prod, _T.prod, torch.cumsum, _T.cumsum, torch.cumprod, _T.cumprod,
    torch.norm, _T.norm, torch.logsumexp, _T.logsumexp, torch.cdist,
}

_LOW_DTYPES = (torch.float16, torch.bfloat16)
_ACTIVE: list[torch.dtype] = []


class CudaAutocastEmulation(TorchFunctionMode):
    """Cast op inputs the way ``torch.autocast("cuda", dtype)`` would."""

    def __init__(self, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.dtype = dtype

    def _cast(self, args: Any, kwargs: dict, source: tuple, target: torch.dtype) -> tuple[Any, dict]:
        def cast(x: Any) -> Any:
            if isinstance(x, torch.Tensor) and x.dtype in source:
                return x.to(target)
            return x

        return tree_map(cast, args), tree_map(cast, kwargs)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in LOWER_PRECISION:
            args, kwargs = self._cast(args, kwargs, (torch.float32,), self.dtype)
        elif func in FLOAT32 and kwargs.get("dtype") is None:
            args, kwargs = self._cast(args, kwargs, _LOW_DTYPES, torch.float32)
        return func(*args, **kwargs)

    def __enter__(self) -> Self:
        _ACTIVE.append(self.dtype)
        return super().__enter__()

    def __exit__(self, *args: object) -> None:
        _ACTIVE.pop()
        super().__exit__(*args)


def checkpoint_contexts() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """``context_fn`` for ``torch.utils.checkpoint``: recompute under the autocast of the forward.

    Real autocast state is saved by checkpoint and restored for the recomputation in backward;
    the emulation is not autocast, so it is re-entered here (or recomputed layers would run in a
    different dtype and checkpoint would reject them).
    """
    if _ACTIVE:
        return contextlib.nullcontext(), CudaAutocastEmulation(_ACTIVE[-1])
    return contextlib.nullcontext(), contextlib.nullcontext()


def outputs_to_fp32(outputs: Any) -> Any:
    """What accelerate does to a mixed-precision forward's result: bf16/fp16 tensors become fp32."""
    if isinstance(outputs, dict):
        for key, value in list(outputs.items()):
            if isinstance(value, torch.Tensor) and value.dtype in _LOW_DTYPES:
                outputs[key] = value.float()
        return outputs
    return tree_map(lambda x: x.float() if isinstance(x, torch.Tensor) and x.dtype in _LOW_DTYPES else x,
                    outputs)
