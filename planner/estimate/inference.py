"""Inference memory and speed: weights + KV cache, decode bound by memory bandwidth, prefill by compute.

This answers the everyday "will it run on my PC or my Mac, and how fast?" question. Decode reads every
weight (and the KV cache) once per generated token, so tokens/s ≈ bandwidth ÷ bytes read; prefill
processes the prompt in large matmuls, so it is compute-bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.arch import Architecture
from planner.estimate import constants as K
from planner.estimate.devices import ComputeTarget

# Share of peak bandwidth a decode loop reaches: llama.cpp / vLLM reach 60-80 % on GPUs and Macs.
DECODE_BANDWIDTH_EFFICIENCY = 0.7
# Share of peak compute a prefill reaches (large batched matmuls).
PREFILL_COMPUTE_EFFICIENCY = 0.5
# Runtime buffers beside weights and cache (activations of one step, sampling, allocator): fixed + share.
INFERENCE_OVERHEAD_BYTES = 0.5 * 2**30
INFERENCE_OVERHEAD_FRACTION = 0.05


@dataclass(frozen=True)
class InferenceEstimate:
    context: int
    weight_bytes: float
    kv_cache_bytes: float
    total_bytes: float
    decode_tokens_per_s: dict[str, float]
    prefill_tokens_per_s: dict[str, float]


def inference_weight_bytes(arch: Architecture, quant: str, precision: str) -> float:
    """Weights for serving: quantized block linears (nf4/gptq4/int8) or the plain dtype."""
    dtype = K.BYTES[precision]
    if quant == "none":
        return arch.total_params * dtype
    per_param = {"nf4": K.NF4_BYTES_PER_PARAM, "gptq4": K.GPTQ4_BYTES_PER_PARAM, "int8": K.INT8_BYTES_PER_PARAM}[quant]
    quantized = arch.num_layers * sum(lin.weight_params for lin in arch.layer_linears)
    return quantized * per_param + (arch.total_params - quantized) * dtype


def kv_cache_bytes(arch: Architecture, context: int, batch: int = 1, kv_bytes: int = 2) -> float:
    """Keys and values for every layer and position (encoders keep none)."""
    if not arch.is_causal:
        return 0.0
    return 2.0 * arch.num_layers * arch.kv_dim * context * batch * kv_bytes


def estimate_inference(arch: Architecture, quant: str, precision: str, context: int,
                       targets: list[ComputeTarget]) -> InferenceEstimate:
    weights = inference_weight_bytes(arch, quant, precision)
    cache = kv_cache_bytes(arch, context)
    total = (weights + cache) * (1 + INFERENCE_OVERHEAD_FRACTION) + INFERENCE_OVERHEAD_BYTES
    active_weights = weights * arch.active_params / arch.total_params
    decode, prefill = {}, {}
    for target in targets:
        read_per_token = active_weights + cache / 2  # on average half the context is filled
        decode[target.name] = round(target.bandwidth_gb_s * 1e9 * DECODE_BANDWIDTH_EFFICIENCY / read_per_token, 1)
        flops = 2.0 * arch.matmul_params_per_token
        prefill[target.name] = round(target.peak_tflops * 1e12 * PREFILL_COMPUTE_EFFICIENCY / flops, 1)
    return InferenceEstimate(context, weights, cache, total, decode, prefill)
