"""The named constants a plan used, as plain data for ``--json`` (so a reader can see every guess)."""

from __future__ import annotations

from typing import Any

from planner.estimate import constants as K
from planner.estimate import devices, memory, profiles, timing
from planner.estimate.setup import TrainingSetup


def assumptions_used(setup: TrainingSetup) -> dict[str, Any]:
    """Constants that shaped this estimate, by name."""
    profile = profiles.stack_profile(setup)
    used: dict[str, Any] = {
        "framework": setup.framework,
        "logits_bytes_per_token_per_vocab": profile.logits_bytes_per_element,
        "adapter_bytes_per_param": profile.adapter_bytes,
        "cuda_context_gib": memory.CUDA_CONTEXT_BYTES / 2**30,
        "workspace_gib": memory.WORKSPACE_BYTES / 2**30,
        "allocator_reserve_fraction": memory.ALLOCATOR_RESERVE_FRACTION,
        "matmul_efficiency_by_arch": devices.MATMUL_EFFICIENCY_BY_ARCH,
        "bandwidth_efficiency": devices.BANDWIDTH_EFFICIENCY,
        "seconds_per_op": timing.SECONDS_PER_OP_EAGER,
        "padding_overhead": timing.PADDING_OVERHEAD,
    }
    if setup.quant != "none":
        used["quant_bytes_per_param"] = {"nf4": K.NF4_BYTES_PER_PARAM, "int8": K.INT8_BYTES_PER_PARAM,
                                         "gptq4": K.GPTQ4_BYTES_PER_PARAM}[setup.quant]
        used["dequant_bandwidth_share"] = timing.DEQUANT_BANDWIDTH_SHARE
    if setup.optimizer.startswith("paged"):
        used["paged_states_on_gpu"] = K.PAGED_STATES_ON_GPU
    return used
