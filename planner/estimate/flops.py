"""Training FLOPs per token: what the matmuls of one step really compute.

Full fine-tuning costs 6·N per token (N = matmul weights a token passes through, input embedding
excluded): 2·N forward, 4·N backward. A frozen layer skips its weight gradient (2·N), so LoRA costs
4·N plus 6× the adapter; gradient checkpointing runs the forward twice (+2·N). Attention adds
4·d·T per layer and token forward (QKᵀ and the weighted sum), halved by causal kernels that skip the
masked triangle, and ×3 for training. This matches torch's FlopCounterMode on real steps (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.arch import Architecture
from planner.estimate.params import trainable_params
from planner.estimate.setup import TrainingSetup

# Flash-style kernels skip fully masked blocks: a causal model does about half of the S×S work.
CAUSAL_ATTENTION_FRACTION = 0.5


@dataclass(frozen=True)
class StepFlops:
    """FLOPs per trained token, split so the time model can weigh them."""

    matmul: float
    attention: float

    @property
    def total(self) -> float:
        return self.matmul + self.attention


def attention_forward_flops(arch: Architecture, context: int) -> float:
    """Forward attention FLOPs per token: QKᵀ and probabilities·V over ``context`` keys, all layers."""
    share = CAUSAL_ATTENTION_FRACTION if arch.is_causal else 1.0
    return 4.0 * arch.q_dim * context * share * arch.num_layers


def flops_per_token(arch: Architecture, setup: TrainingSetup, context: int) -> StepFlops:
    """Training FLOPs per token of data (DPO counts a chosen+rejected pair's two sequences)."""
    n = float(arch.matmul_params_per_token)
    forward = 2.0 * n
    attn_fwd = attention_forward_flops(arch, context)
    if setup.method == "full":
        matmul = 3.0 * forward
    else:
        trained_weights = trainable_params(arch, setup)
        matmul = 2.0 * forward + 6.0 * trained_weights
        if setup.method == "spectrum":
            matmul = 2.0 * forward + 2.0 * trained_weights
    attention = 3.0 * attn_fwd
    if setup.grad_ckpt:
        matmul += forward
        attention += attn_fwd
    if setup.task == "dpo":  # chosen + rejected through the policy, and both through the reference
        return StepFlops(2.0 * (matmul + forward), 2.0 * (attention + attn_fwd))
    if setup.task == "grpo" and setup.kl_coef > 0:  # the reference's forward (LoRA's: the adapter switched off)
        return StepFlops(matmul + forward, attention + attn_fwd)
    if setup.task in ("embed", "reward"):  # anchor and positive, or chosen and rejected: two passes, no reference
        return StepFlops(2.0 * matmul, 2.0 * attention)
    return StepFlops(matmul, attention)
