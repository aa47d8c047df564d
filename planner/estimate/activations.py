"""Bytes saved for backward, per token, by one transformer block: an inventory of saved tensors.

Why an inventory and not "k · hidden · layers": what a block keeps depends on which weights train
(a frozen linear keeps nothing for its weight gradient), on PEFT's fp32 copy of every adapted layer's
input, on dropout masks, on fp32 norms and on the attention kernel. Each term below names the tensor
that the Hugging Face code path keeps (checked against torch's MemTracker on real training steps,
bench/trace_grid.py), so a new method or family changes one line, not a fudge factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.arch import Architecture, LinearSpec
from planner.estimate.profiles import StackProfile
from planner.estimate.setup import TrainingSetup

FP32 = 4
MASK = 1

# Linears of one block grouped by the tensor they read: a saved input is stored once per group.
_INPUT_GROUP = {
    "q_proj": "attn_in", "k_proj": "attn_in", "v_proj": "attn_in", "qkv_proj": "attn_in",
    "query_key_value": "attn_in", "c_attn": "attn_in", "Wqkv": "attn_in", "query": "attn_in",
    "key": "attn_in", "value": "attn_in", "q_lin": "attn_in", "k_lin": "attn_in", "v_lin": "attn_in",
    "query_proj": "attn_in", "key_proj": "attn_in", "value_proj": "attn_in", "q": "attn_in",
    "k": "attn_in", "v": "attn_in",
    "gate_proj": "mlp_in", "up_proj": "mlp_in", "gate_up_proj": "mlp_in", "c_fc": "mlp_in",
    "dense_h_to_4h": "mlp_in", "fc1": "mlp_in", "w1": "mlp_in", "w3": "mlp_in", "gate": "mlp_in",
    "intermediate.dense": "mlp_in", "lin1": "mlp_in", "Wi": "mlp_in", "fc11": "mlp_in", "fc12": "mlp_in",
    "up_gate_proj": "mlp_in", "shared_gate_proj": "mlp_in", "shared_up_proj": "mlp_in",
    "shared_expert_gate": "mlp_in",
}


def input_group(linear: LinearSpec) -> str:
    """Which tensor a linear reads; unknown names (o_proj, down_proj, …) read their own input."""
    return _INPUT_GROUP.get(linear.name, linear.name)


@dataclass(frozen=True)
class BlockTraining:
    """Which parts of a block train: linears whose weights train, linears wrapped by LoRA."""

    trainable: frozenset[str]
    lora_wrapped: frozenset[str]
    norms_train: bool


def compute_bytes(setup: TrainingSetup) -> int:
    """Bytes of an activation element: bf16/fp16 autocast produce 2-byte matmul outputs."""
    return 4 if setup.precision == "fp32" else 2


def block_bytes_per_token(arch: Architecture, setup: TrainingSetup, profile: StackProfile,
                          block: BlockTraining, context: int) -> dict[str, float]:
    """Saved-for-backward bytes of one block per token, by component."""
    c = compute_bytes(setup)
    parts = {
        "norms": _norm_bytes(arch, setup, profile, block, c),
        "attention": _attention_bytes(arch, setup, c, context),
        "mlp": _mlp_bytes(arch, profile, block, c),
        "linear_inputs": _linear_input_bytes(arch, block, c),
        "lora": _lora_bytes(arch, setup, profile, block, c),
        "quantized_inputs": _quantized_input_bytes(arch, setup, profile, block, c),
        "dropout": _hidden_dropout_bytes(arch),
    }
    return parts


def _norm_bytes(arch: Architecture, setup: TrainingSetup, profile: StackProfile,
                block: BlockTraining, c: int) -> float:
    h = arch.hidden_size
    if arch.layer_norm_kind == "rms":
        kept_input = c if profile.fused_elementwise else FP32
        count = 4 if arch.model_type in ("gemma2", "gemma3", "gemma3_text") else 2
        total = count * kept_input * h
        if arch.model_type in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text"):
            total += kept_input * (arch.q_dim + arch.kv_dim)
        if block.norms_train:
            total += count * c * h
        return total
    # LayerNorm runs in fp32 under autocast and keeps that fp32 input; the next linear keeps its own
    # bf16 copy of the output (counted with the linear's input).
    count = 1 if _parallel_residual(arch) else 2
    return count * FP32 * h


def _parallel_residual(arch: Architecture) -> bool:
    return arch.model_type in ("falcon", "phi")


def _attention_bytes(arch: Architecture, setup: TrainingSetup, c: int, context: int) -> float:
    q_dim, kv_dim, heads = arch.q_dim, arch.kv_dim, arch.num_heads
    padded = setup.micro_batch > 1 and not setup.packing and arch.is_causal
    kv_kept = q_dim if padded and kv_dim < q_dim else kv_dim  # repeat_kv expands k/v when a mask exists
    if setup.attn == "eager":
        # q and k kept by QKᵀ, v by the product with the probabilities. Softmax runs in fp32 and keeps
        # its output; a 16-bit run keeps the cast copy the matmul reads; encoders train with attention
        # dropout, which keeps a mask (its fp32 output is what the matmul keeps in an fp32 run).
        probs = FP32 + (c if c != FP32 else 0)
        if not arch.is_causal:
            probs = FP32 + MASK + c
        return c * (q_dim + 2 * kv_kept) + probs * heads * context
    # Flash / memory-efficient SDPA keep q, k, v, the output and an fp32 logsumexp per head.
    return c * (2 * q_dim + 2 * kv_kept) + FP32 * heads


def _mlp_bytes(arch: Architecture, profile: StackProfile, block: BlockTraining, c: int) -> float:
    """Nonlinearity inputs/outputs (the linears' own inputs are counted in _linear_input_bytes)."""
    inter = arch.intermediate_size
    share = 1
    if arch.is_moe:
        expert = next(lin for lin in arch.layer_linears if lin.experts > 1)
        inter, share = expert.out_features, arch.experts_per_token
    if arch.gated_mlp:
        kept = 2 if profile.fused_elementwise else 3  # silu input, silu output, up output
        return share * kept * c * inter + (_moe_routing_bytes(arch, block, c, inter) if arch.is_moe else 0)
    return share * c * inter  # GELU keeps its input; its output is the fc2 input


def _moe_routing_bytes(arch: Architecture, block: BlockTraining, c: int, inter: int) -> float:
    """Per token, an MoE block keeps fp32 router probabilities and, for each of its k experts, the
    expert output it weights; when expert weights train (full, or PEFT's merged LoRA delta) each expert
    also keeps its gathered input and its down-projection input (traced on Qwen3-MoE)."""
    experts_train = any(lin.experts > 1 and (lin.name in block.trainable or lin.name in block.lora_wrapped)
                        for lin in arch.layer_linears)
    per_expert = c * arch.hidden_size + (c * (arch.hidden_size + inter) if experts_train else 0)
    return FP32 * arch.num_experts + arch.experts_per_token * per_expert


def _linear_input_bytes(arch: Architecture, block: BlockTraining, c: int) -> float:
    """A linear whose weight trains keeps its input (one copy per input group)."""
    groups: dict[str, int] = {}
    for lin in arch.layer_linears:
        if lin.name in block.trainable:
            share = arch.experts_per_token if lin.experts > 1 else 1
            groups[input_group(lin)] = max(groups.get(input_group(lin), 0), lin.in_features * share)
    return sum(groups.values()) * c


def _lora_bytes(arch: Architecture, setup: TrainingSetup, profile: StackProfile,
                block: BlockTraining, c: int) -> float:
    """What LoRA adds: lora_B keeps lora_A's r-wide output; each adapted layer keeps a copy of its input.

    PEFT casts the input to the fp32 adapter dtype; with dropout > 0 dropout keeps a 1-byte mask, and
    autocast casts the result back to 16 bits for lora_A's matmul, which keeps that copy (traced:
    1 + 2 bytes per input element and adapted layer). Without a dtype change and without dropout,
    lora_A keeps the very tensor the block already has: one copy per input group.
    """
    if not block.lora_wrapped:
        return 0.0
    # Fused expert weights get their LoRA delta added to the weight itself (a per-block, not per-token,
    # cost: see params.expert_delta_bytes); only ordinary linears keep per-token adapter inputs.
    wrapped = [lin for lin in arch.layer_linears if lin.name in block.lora_wrapped and lin.experts == 1]
    total = float(len(wrapped) * profile.adapter_bytes * setup.lora_r)
    casts = profile.adapter_bytes != c
    seen_groups: set[str] = set()
    for lin in wrapped:
        group = input_group(lin)
        shared = profile.lora_dropout_per_group and group in seen_groups
        seen_groups.add(group)
        kept = c if setup.autocast or not casts else profile.adapter_bytes  # without autocast: fp32 copy
        if profile.lora_dropout and not shared:
            total += (MASK + kept) * lin.in_features
        elif casts and not profile.lora_dropout:
            total += kept * lin.in_features
    if not profile.lora_dropout and not casts:
        frozen_groups = {input_group(lin) for lin in wrapped if lin.name not in block.trainable}
        widths = {input_group(lin): lin.in_features for lin in wrapped}
        total += sum(widths[g] for g in frozen_groups) * c
    return total


def _quantized_input_bytes(arch: Architecture, setup: TrainingSetup, profile: StackProfile,
                           block: BlockTraining, c: int) -> float:
    """Older bitsandbytes kept each 4-bit matmul's input (one per input group) for backward."""
    if setup.quant == "none" or not profile.quant_saved_input_bytes:
        return 0.0
    dense = [lin for lin in arch.layer_linears if lin.experts == 1]
    if profile.quant_input_per_linear:
        return profile.quant_saved_input_bytes * sum(lin.in_features for lin in dense)
    widths = {input_group(lin): lin.in_features for lin in dense}
    return profile.quant_saved_input_bytes * sum(widths.values())


def _hidden_dropout_bytes(arch: Architecture) -> float:
    """Encoders (and GPT-2) train with hidden dropout: a mask after attention and after the MLP."""
    if arch.model_type in ("gpt2",) or not arch.is_causal:
        return 2 * MASK * arch.hidden_size
    return 0.0
