"""A lean peak-memory tracker built on torch's ``MemTracker`` storage accounting.

``MemTracker`` keeps an exact running sum of live tensor storages (weak references, resize hooks,
optimizer-state hooks) and that part is reused as is. Three things of the stock class are replaced:

* it installs a gradient hook on every parameter, which fails on frozen ones (LoRA); here only the
  parameters that require a gradient are hooked;
* it updates a per-module peak after every op (a walk over all modules plus deep copies), which makes
  it about 20x slower on big models; here only the global peak is kept;
* it refuses a second forward of the root module in one iteration (DPO runs the model twice) and
  needs module hooks to know the phase; here the caller names the phase (forward / backward /
  optimizer) and autograd's graph-task id says whether an op runs inside backward.

FLOPs are counted in the same pass with torch's FLOP formulas (``flop_counter.flop_registry``).
``FlopCounterMode`` itself is not used while memory is measured: its module tracker keeps extra
tensors alive under gradient checkpointing and inflated the measured peak.
"""

from __future__ import annotations

from typing import Any, Self

import torch
from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker, _MemRefType
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map_only
from torch.utils.flop_counter import flop_registry

CATEGORIES = {
    _MemRefType.PARAM: "parameters",
    _MemRefType.BUFFER: "buffers",
    _MemRefType.GRAD: "gradients",
    _MemRefType.ACT: "activations",
    _MemRefType.TEMP: "temporaries",
    _MemRefType.OPT: "optimizer_state",
    _MemRefType.OTH: "other",
}


class PeakTracker(MemTracker):
    """Track the global peak of live tensor bytes and what it is made of.

    Storages created inside backward are "temporaries" (this includes activations recomputed by
    gradient checkpointing, which the stock tracker also cannot tell apart reliably); storages
    created by the optimizer step are "optimizer_state".
    """

    def __init__(self) -> None:
        super().__init__()
        self.phase = "setup"
        self.peak_bytes = 0
        self.peak_phase = ""
        self.peak_op = ""
        self.peak_breakdown: dict[str, int] = {}
        self.count_flops = False
        self.flops: dict[Any, int] = {}

    def track_model(self, model: torch.nn.Module) -> None:
        """Register parameters and buffers; hook gradients of trainable parameters only."""

        def grad_hook(param: torch.nn.Parameter) -> None:
            self._update_and_maybe_create_winfos(param.grad, _MemRefType.GRAD)

        for param in model.parameters():
            self._update_and_maybe_create_winfos(param, _MemRefType.PARAM)
            if param.requires_grad and param not in self._param_to_grad_hook_handles:
                handle = param.register_post_accumulate_grad_hook(grad_hook)
                self._param_to_grad_hook_handles[param] = (handle, handle)
        for buffer in model.buffers():
            self._update_and_maybe_create_winfos(buffer, _MemRefType.BUFFER)

    def track_tensors(self, *tensors: torch.Tensor) -> None:
        """Count tensors made outside the tracker (inputs) as "other"."""
        for tensor in tensors:
            self._update_and_maybe_create_winfos(tensor, _MemRefType.OTH)

    def reset_peak(self) -> None:
        """Start a new peak from what is live now (used between training steps)."""
        self.peak_bytes = 0
        self._record_peak("reset")

    def current_bytes(self) -> int:
        """Sum of live tracked tensor bytes over all devices."""
        return sum(snap[_TOTAL_KEY] for snap in self._curr_mem_snap.values())

    def _record_peak(self, op_name: str) -> None:
        total = self.current_bytes()
        if total <= self.peak_bytes:
            return
        self.peak_bytes = total
        self.peak_phase = self.phase
        self.peak_op = op_name
        merged: dict[str, int] = dict.fromkeys(CATEGORIES.values(), 0)
        for snap in self._curr_mem_snap.values():
            for ref, name in CATEGORIES.items():
                merged[name] += snap.get(ref, 0)
        self.peak_breakdown = merged

    def __enter__(self) -> Self:
        self._register_global_optimizer_hook()
        self._track_resize()
        TorchDispatchMode.__enter__(self)
        return self

    def __exit__(self, *args: object) -> None:
        self._deregister_param_and_optimizer_hooks()
        self._restore_resize()
        TorchDispatchMode.__exit__(self, *args)

    def _deregister_param_and_optimizer_hooks(self) -> None:
        for handle, _ in self._param_to_grad_hook_handles.values():
            handle.remove()
        self._param_to_grad_hook_handles.clear()
        if self._optimizer_hook_handles is not None:
            for handle in self._optimizer_hook_handles:
                handle.remove()
            self._optimizer_hook_handles = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if self._in_opt:
            ref = _MemRefType.OPT
        elif torch._C._current_graph_task_id() != -1:
            ref = _MemRefType.TEMP
        else:
            ref = _MemRefType.ACT
        tree_map_only(torch.Tensor, lambda t: self._track(ref, t), result)
        self._record_peak(str(func))
        if self.count_flops:
            self._count_flops(func, args, kwargs or {}, result)
        return result

    def _count_flops(self, func, args, kwargs, result) -> None:
        packet = func._overloadpacket
        formula = flop_registry.get(packet)
        if formula is None:
            return
        try:
            flops = formula(*args, **kwargs, out_val=result)
        except TypeError:  # addmm(a, b, c, out_dtype, out=): the formula wants the tensors only
            flops = formula(*(a for a in args if isinstance(a, torch.Tensor)), out_val=result)
        self.flops[packet] = self.flops.get(packet, 0) + flops
