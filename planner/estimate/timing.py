"""Training time: a per-step model of matmul work, weight streaming, 4-bit dequantisation and the
fixed cost of launching many small kernels.

Why not 6·N·tokens ÷ (peak × one efficiency): the stacks people use run short sequences at batch 1
far slower than that — each step launches thousands of kernels (norms, rotary, casts, LoRA's small
matmuls) whose cost does not shrink with the batch, QLoRA dequantises every weight on every pass, and
attention grows with the sequence. Each of those is a term below with its own named constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.arch import Architecture
from planner.estimate.devices import PCIE_HOST_GB_S, ComputeTarget
from planner.estimate.flops import StepFlops, flops_per_token
from planner.estimate.grpo import answers_per_generation
from planner.estimate.inference import kv_cache_bytes
from planner.estimate.params import base_weight_bytes, trainable_params
from planner.estimate.setup import TrainingSetup

# Kernels an eager HF decoder block launches per forward (RMSNorm ≈ 8 ops ×2, rotary ≈ 10, projections,
# SDPA, SwiGLU, residuals) and per backward (≈ 1.8× forward); each adapted linear adds ~6 forward and
# ~10 backward ops (cast, dropout, A, B, scale, add). Counted from the HF code path.
OPS_PER_BLOCK_FORWARD = 40
BACKWARD_OPS_RATIO = 1.8
OPS_PER_LORA_FORWARD = 6
OPS_PER_LORA_BACKWARD = 10
# CPU-side cost of one eager PyTorch op (Python, dispatcher, launch): ~10 µs (calibrated on the
# published batch-1 BERT rows); torch.compile fuses most of them away.
SECONDS_PER_OP_EAGER = 10e-6
SECONDS_PER_OP_COMPILED = 2.5e-6
# The trainer's own work per micro-batch beside the model (collating the batch in Python, callbacks,
# logging, the scheduler): measured with the tiny example on 2 CPU cores, 1,000 and 3,000 steps without
# saves took 24.3 s and 48.2 s, 12.0 ms a step against 7.0 ms of modelled work. Invisible on a big model,
# it is most of a tiny one's step.
TRAINER_SECONDS_PER_MICRO_BATCH = 5e-3
# bitsandbytes/torchao 4-bit dequantisation: per weight and pass it reads 0.5 B and writes 2 B, but the
# kernels reach a small share of peak bandwidth: 0.15, calibrated on torchtune's QLoRA-vs-LoRA pair on
# the same RTX 4090 (2,413 vs 3,083 tokens/s).
DEQUANT_BYTES_PER_PARAM = 2.5
DEQUANT_BANDWIDTH_SHARE = 0.15
# Optimizer step traffic per trainable parameter (read param, grad, two states; write param, states).
OPTIMIZER_BYTES_PER_PARAM_PER_STATE_BYTE = 3.0
# Padding: without packing, a batch runs at the length of its longest sequence. For batches of
# several sequences of random lengths that wastes about a fifth of the compute (assumption).
PADDING_OVERHEAD = 1.2
# torch.compile'd stacks (torchtune in the published rows) fuse elementwise work: their matmul share
# of the step is higher (calibrated on torchtune's rows against the eager HF efficiency).
COMPILED_EFFICIENCY_GAIN = 1.45
# Fused Triton kernels (RMSNorm, RoPE, SwiGLU, cross-entropy) speed up the per-GPU step; communication and the
# optimizer step are untouched. Liger: +20 % throughput, its README's benchmark (Llama-3-8B, batch 8, bf16,
# AdamW, checkpointing, FSDP1 on 8×A100). Unsloth: its docs claim 2× against HF + FA2 for QLoRA (Llama 3.1 8B
# and 3.3 70B, batch 2, accumulation 4, r 32, all linears, H100) and Hugging Face's own comparison (blog
# "unsloth-trl") measured 1.6×-2.7× on A100/T4 QLoRA rows; 1.6 is the low end, on purpose: no public
# speed row of ours covers these stacks, and an estimate that is too fast costs a user money.
KERNEL_THROUGHPUT_GAIN = {"none": 1.0, "liger": 1.20, "unsloth": 1.6}
# transformers' generate() per new token besides the decoder blocks: logits processors and warpers, softmax,
# multinomial sampling, stopping criteria, cache and mask bookkeeping (counted from its sampling loop).
SAMPLING_OPS_PER_TOKEN = 25
# Share of FSDP/ZeRO/DDP communication hidden behind compute (assumption: bucketed overlap).
COMM_OVERLAP = 0.5
# Between machines: 100 Gb/s Ethernet, what a cloud VM without EFA/InfiniBand gets (assumption; p5/a3-mega
# class instances have far more). Two nodes are therefore never planned as twice as fast for free.
INTER_NODE_GB_S = 12.5


@dataclass(frozen=True)
class TimeEstimate:
    """Throughput and wall-clock for one device type and GPU count."""

    device: str
    gpus: int
    tokens_per_s: float
    step_seconds: float
    steps: int
    hours: float
    flops_per_token: float
    approximate: bool


def tokens_per_sequence(setup: TrainingSetup, avg_tokens: int | None) -> float:
    """Tokens a sequence really occupies in a micro-batch (packing fills the window)."""
    if setup.packing or avg_tokens is None:
        return float(setup.seq_len)
    length = min(avg_tokens, setup.seq_len)
    return min(setup.seq_len, length * (PADDING_OVERHEAD if setup.micro_batch > 1 else 1.0))


def ops_per_step(arch: Architecture, setup: TrainingSetup) -> float:
    wrapped = len(arch.linears_matching(setup.lora_targets)) if setup.is_lora else 0
    forward = OPS_PER_BLOCK_FORWARD + wrapped * OPS_PER_LORA_FORWARD
    backward = OPS_PER_BLOCK_FORWARD * BACKWARD_OPS_RATIO + wrapped * OPS_PER_LORA_BACKWARD
    per_block = forward * (2 if setup.grad_ckpt else 1) + backward
    passes = 2 if setup.task in ("dpo", "embed", "reward") else 1
    return passes * arch.num_layers * per_block


def step_seconds(arch: Architecture, setup: TrainingSetup, target: ComputeTarget, seq_tokens: float) -> float:
    """Seconds for one micro-batch on one device."""
    flops: StepFlops = flops_per_token(arch, setup, int(seq_tokens))
    tokens = setup.micro_batch * seq_tokens
    compiled = setup.compiled
    gain = COMPILED_EFFICIENCY_GAIN if compiled else 1.0
    flop_rate = target.peak_tflops * 1e12 * target.efficiency_for(arch.hidden_size) * gain
    compute = tokens * flops.total / flop_rate
    passes = 2 + (1 if setup.grad_ckpt else 0) + (2 if setup.task == "dpo" else 0) + (1 if reference_forward(setup) else 0)
    streaming = passes * base_weight_bytes(arch, setup) / setup.shards / target.effective_bandwidth
    dequant = 0.0
    if setup.quant != "none":
        quantized = arch.num_layers * sum(lin.weight_params for lin in arch.layer_linears)
        dequant = passes * quantized * DEQUANT_BYTES_PER_PARAM / (target.bandwidth_gb_s * 1e9 * DEQUANT_BANDWIDTH_SHARE)
    per_op = SECONDS_PER_OP_COMPILED if compiled else SECONDS_PER_OP_EAGER
    overhead = ops_per_step(arch, setup) * per_op + TRAINER_SECONDS_PER_MICRO_BATCH
    optimizer = (_optimizer_seconds(arch, setup, target) + _paging_seconds(arch, setup, target)) / setup.grad_accum
    comm = _communication_seconds(arch, setup, target) * (1 - COMM_OVERLAP)
    kernels = KERNEL_THROUGHPUT_GAIN.get(setup.kernels, 1.0)
    return (max(compute, streaming) + dequant + overhead) / kernels + optimizer + comm


def reference_forward(setup: TrainingSetup) -> bool:
    return setup.task == "grpo" and setup.kl_coef > 0


def generation_seconds(arch: Architecture, setup: TrainingSetup, target: ComputeTarget, prompt_tokens: float) -> float:
    """One device's GRPO generation round: ``answers_per_generation`` answers, the prompts prefilled in big
    matmuls, then ``completion_len`` decode steps. Each decode step reads every weight and the KV cache once
    (bandwidth-bound: the batch of answers shares the read) and launches the blocks' kernels one token at a time
    (HF ``generate`` in eager mode), so a small batch pays the launch cost, not the FLOPs. A 4-bit base is
    dequantised on every decode step; sharded weights are gathered for generation (FSDP: on every decode step,
    layer by layer; ZeRO-3: once a round, TRL's ``ds3_gather_for_generation``)."""
    answers = answers_per_generation(setup)
    n = float(arch.matmul_params_per_token)
    flop_rate = target.peak_tflops * 1e12 * target.efficiency_for(arch.hidden_size)
    prefill = 2.0 * n * answers * prompt_tokens / flop_rate
    cache = kv_cache_bytes(arch, prompt_tokens + setup.completion_len / 2, answers, 4 if setup.precision == "fp32" else 2)
    read = (base_weight_bytes(arch, setup) + cache) / target.effective_bandwidth
    dequant = 0.0
    if setup.quant != "none":
        quantized = arch.num_layers * sum(lin.weight_params for lin in arch.layer_linears)
        dequant = quantized * DEQUANT_BYTES_PER_PARAM / (target.bandwidth_gb_s * 1e9 * DEQUANT_BANDWIDTH_SHARE)
    wrapped = len(arch.linears_matching(setup.lora_targets)) if setup.is_lora else 0
    ops = arch.num_layers * (OPS_PER_BLOCK_FORWARD + wrapped * OPS_PER_LORA_FORWARD) + SAMPLING_OPS_PER_TOKEN
    per_token = max(read, 2.0 * n * answers / flop_rate) + dequant + ops * SECONDS_PER_OP_EAGER
    gather = _generation_gather_seconds(arch, setup, target)
    if setup.sharding == "fsdp":  # FSDP all-gathers each layer's weights again on every decode step
        return prefill + setup.completion_len * (per_token + gather)
    return prefill + setup.completion_len * per_token + gather  # ZeRO-3 gathers them once a round (TRL's default)


def _generation_gather_seconds(arch: Architecture, setup: TrainingSetup, target: ComputeTarget) -> float:
    """Sharded weights brought whole to every GPU once: the rest of the world's shards over the GPU link, or
    over the network between machines."""
    if setup.sharding not in ("fsdp", "zero3") or setup.world_size < 2:
        return 0.0
    moved = base_weight_bytes(arch, setup) * (setup.world_size - 1) / setup.world_size
    link = INTER_NODE_GB_S if setup.nodes > 1 else (target.link_gb_s or INTER_NODE_GB_S)
    return moved / (link * 1e9)


def _grpo_time(arch: Architecture, setup: TrainingSetup, target: ComputeTarget, tokens_total: float,
               avg_tokens: int | None) -> TimeEstimate:
    """GRPO: ``num_generations`` answers per prompt, each assumed to run to ``completion_len`` (an upper bound:
    answers that stop early make it faster). The data's rows are prompts; a micro-step trains ``micro_batch``
    answers and pays its share of the generation round."""
    room = setup.seq_len - setup.completion_len
    prompt = float(min(avg_tokens or room, room))
    seq_tokens = prompt + setup.completion_len
    step = step_seconds(arch, setup, target, seq_tokens) + generation_seconds(arch, setup, target, prompt) / setup.grad_accum
    answers = tokens_total / (avg_tokens or room) * setup.num_generations if tokens_total else 0.0
    steps = math.ceil(answers / (setup.micro_batch * setup.world_size)) if answers else 0
    rate = setup.micro_batch * seq_tokens * setup.world_size / step
    flops = flops_per_token(arch, setup, int(seq_tokens)).total
    return TimeEstimate(target.name, setup.gpus, rate, step, steps, steps * step / 3600, flops, target.approximate)


def _paging_seconds(arch: Architecture, setup: TrainingSetup, target: ComputeTarget) -> float:
    """Paged optimizer state that does not fit beside the weights crosses PCIe twice per step."""
    if not setup.optimizer.startswith("paged") or not target.memory_gib:
        return 0.0
    trainable = trainable_params(arch, setup) / setup.shards
    state = trainable * (2.0 if "8bit" in setup.optimizer else 8.0)
    resident = base_weight_bytes(arch, setup) / setup.shards + trainable * (4 if setup.is_lora else 2)
    spill = max(0.0, resident + state - target.memory_gib * 2**30)
    return 2 * min(spill, state) / (PCIE_HOST_GB_S * 1e9)


def _communication_seconds(arch: Architecture, setup: TrainingSetup, target: ComputeTarget) -> float:
    """Bytes moved per micro-step: gradients (DDP, ZeRO) and, when sharded, weights twice. A ring inside a
    node over its GPU link; across nodes the same bytes cross each machine's network once more, which is
    the slow part (``INTER_NODE_GB_S``)."""
    if setup.world_size < 2:
        return 0.0
    grad_bytes = trainable_params(arch, setup) * (4 if setup.is_lora else 2) / setup.grad_accum
    moved = grad_bytes
    if setup.sharding in ("fsdp", "zero3"):
        moved += 2 * base_weight_bytes(arch, setup)
    seconds = 0.0
    if setup.gpus > 1 and target.link_gb_s:
        seconds += 2 * (setup.gpus - 1) / setup.gpus * moved / (target.link_gb_s * 1e9)
    if setup.nodes > 1:
        seconds += 2 * (setup.nodes - 1) / setup.nodes * moved / (INTER_NODE_GB_S * 1e9)
    return seconds


def _optimizer_seconds(arch: Architecture, setup: TrainingSetup, target: ComputeTarget) -> float:
    trainable = trainable_params(arch, setup) / setup.shards
    state_bytes = 4 if setup.is_lora else 2
    return trainable * state_bytes * OPTIMIZER_BYTES_PER_PARAM_PER_STATE_BYTE * 2 / target.effective_bandwidth


def estimate_time(arch: Architecture, setup: TrainingSetup, target: ComputeTarget, tokens_total: float,
                  avg_tokens: int | None) -> TimeEstimate:
    """Wall-clock for ``tokens_total`` training tokens on ``setup.gpus`` devices like ``target``."""
    if setup.task == "grpo":
        return _grpo_time(arch, setup, target, tokens_total, avg_tokens)
    seq_tokens = tokens_per_sequence(setup, avg_tokens)
    step = step_seconds(arch, setup, target, seq_tokens)
    useful_per_step = setup.micro_batch * (min(avg_tokens, setup.seq_len) if avg_tokens and not setup.packing
                                           else setup.seq_len)
    per_device = useful_per_step / step
    total_rate = per_device * setup.world_size
    steps = math.ceil(tokens_total / (useful_per_step * setup.world_size)) if tokens_total else 0
    flops = flops_per_token(arch, setup, int(seq_tokens)).total
    return TimeEstimate(target.name, setup.gpus, total_rate, step, steps, tokens_total / total_rate / 3600,
                        flops, target.approximate)
