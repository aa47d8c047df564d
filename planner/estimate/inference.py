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
# Tensor parallel serving splits weights and KV cache across cards; each layer then all-reduces its output,
# which costs a share of the ideal N-fold speed (vLLM's TP=2/4/8 reach roughly 70-85 % of linear).
TENSOR_PARALLEL_SIZES = (2, 4, 8)
TENSOR_PARALLEL_EFFICIENCY = 0.8


@dataclass(frozen=True)
class DeviceFit:
    """Can one device (or N cards of it, tensor parallel) hold the model for serving, and how fast."""

    memory_gib: float | None
    """What the device lets a model use: GPU memory, Apple unified memory less what macOS keeps; None
    where it is not known (a typical CPU: it depends on the RAM fitted)."""
    fits: bool | None
    gpus: int = 1
    """Cards needed (1, or the smallest tensor-parallel size that holds it; 0: not even 8)."""
    per_gpu_gib: float = 0.0
    tokens_per_s: float = 0.0
    """Decode tokens/s (causal LMs) or encoded sequences/s (encoders), on ``gpus`` cards."""
    price_usd: float | None = None
    """What the device(s) cost to buy, where the catalog has a price."""


@dataclass(frozen=True)
class InferenceEstimate:
    context: int
    weight_bytes: float
    kv_cache_bytes: float
    total_bytes: float
    decode_tokens_per_s: dict[str, float]
    prefill_tokens_per_s: dict[str, float]
    encoder: bool = False
    fits: dict[str, DeviceFit] | None = None

    def verdict(self) -> dict:
        """Which devices can serve it (on one device, or as tensor-parallel cards), the fastest and the
        cheapest to own."""
        can = {name: f for name, f in (self.fits or {}).items() if f.fits or f.gpus > 1}
        priced = {name: f for name, f in can.items() if f.price_usd}
        fastest = max(can, key=lambda n: can[n].tokens_per_s, default=None)
        cheapest = min(priced, key=lambda n: priced[n].price_usd, default=None)
        return {"can_serve": sorted(can, key=lambda n: -can[n].tokens_per_s), "fastest": fastest,
                "cheapest_to_own": ({"device": cheapest, "gpus": priced[cheapest].gpus,
                                     "usd": priced[cheapest].price_usd} if cheapest else None)}


def serving_bytes(weights: float, cache: float, shards: int = 1) -> float:
    """Memory one device needs: its share of weights and KV cache, runtime share, fixed buffers."""
    return (weights + cache) / shards * (1 + INFERENCE_OVERHEAD_FRACTION) + INFERENCE_OVERHEAD_BYTES


def device_fit(target: ComputeTarget, usable_gib: float | None, weights: float, cache: float,
               one_device_speed: float, price: tuple[float, float | None] | None) -> DeviceFit:
    """One device, or (a GPU) the smallest tensor-parallel group of it that holds the model. ``price`` is
    (USD, usable GiB of the configuration it buys, None for the device as listed): a Mac's base price is
    not the price of the memory this model needs."""
    need = serving_bytes(weights, cache) / 2**30
    price_usd = price[0] if price and (price[1] is None or need <= price[1]) else None
    if usable_gib is None:
        return DeviceFit(None, None, 1, round(need, 2), one_device_speed, price_usd)
    if need <= usable_gib:
        return DeviceFit(round(usable_gib, 2), True, 1, round(need, 2), one_device_speed, price_usd)
    if target.kind == "gpu":
        for n in TENSOR_PARALLEL_SIZES:
            per_card = serving_bytes(weights, cache, n) / 2**30
            if per_card <= usable_gib:
                speed = round(one_device_speed * n * TENSOR_PARALLEL_EFFICIENCY, 1)
                return DeviceFit(round(usable_gib, 2), False, n, round(per_card, 2), speed,
                                 price_usd * n if price_usd else None)
        return DeviceFit(round(usable_gib, 2), False, 0, round(serving_bytes(weights, cache, 8) / 2**30, 2), 0.0)
    return DeviceFit(round(usable_gib, 2), False, 0, round(need, 2), 0.0, price_usd)


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
                       targets: list[ComputeTarget], usable_gib: dict[str, float | None] | None = None,
                       prices: dict[str, tuple[float, float | None]] | None = None) -> InferenceEstimate:
    """Serving memory and speed on each target; with ``usable_gib`` (per target name) a fit per device.
    An encoder (BERT) keeps no KV cache and generates nothing: its speed is sequences encoded per second."""
    weights = inference_weight_bytes(arch, quant, precision)
    cache = kv_cache_bytes(arch, context)
    total = serving_bytes(weights, cache)
    active_weights = weights * arch.active_params / arch.total_params
    encoder = not arch.is_causal
    decode, prefill, fits = {}, {}, {}
    for target in targets:
        flops = 2.0 * arch.matmul_params_per_token
        prefill[target.name] = round(target.peak_tflops * 1e12 * PREFILL_COMPUTE_EFFICIENCY / flops, 1)
        if encoder:
            speed = round(prefill[target.name] / context, 1)
        else:
            read_per_token = active_weights + cache / 2  # on average half the context is filled
            decode[target.name] = round(target.bandwidth_gb_s * 1e9 * DECODE_BANDWIDTH_EFFICIENCY / read_per_token, 1)
            speed = decode[target.name]
        if usable_gib is not None:
            fits[target.name] = device_fit(target, usable_gib.get(target.name), weights, cache, speed,
                                           (prices or {}).get(target.name))
    return InferenceEstimate(context, weights, cache, total, decode, prefill, encoder,
                             fits if usable_gib is not None else None)
