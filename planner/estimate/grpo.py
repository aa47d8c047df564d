"""What GRPO adds to a training step's memory: the answers it generates, and the logits it scores them with.

A GRPO step (TRL's GRPOTrainer, what templates/grpo.py runs) has two phases on each device:
  * generation: ``micro_batch × grad_accum`` answers (``num_generations`` per prompt) are sampled at once with
    ``generate()``, which keeps a KV cache for every answer up to prompt + completion tokens. No gradients
    exist then (the optimizer step freed them), but the weights and the optimizer state do.
  * training: the policy's forward and backward over ``micro_batch`` sequences of prompt + completion. TRL 1.x
    scores the answers through its fused LM head (``fused_lm_head=True``, labels only on the completion), which
    projects only those positions, in tiles: the logits buffers scale with the answers' tokens, not the prompts'.
With a KL penalty a full fine-tune also holds a frozen reference copy (``estimate_memory`` adds it, as for DPO);
LoRA's reference is the base with the adapter switched off, so it costs a forward, not memory.
"""

from __future__ import annotations

from planner.arch import Architecture
from planner.estimate import constants as K
from planner.estimate.activations import compute_bytes
from planner.estimate.inference import kv_cache_bytes
from planner.estimate.setup import TrainingSetup

# The sampler's per-token tensors: the last position's logits upcast to fp32, and the probabilities.
SAMPLING_COPIES = 2


def answers_per_generation(setup: TrainingSetup) -> int:
    """Answers one device generates at once: every micro-batch of the accumulation, sampled up front."""
    return setup.micro_batch * setup.grad_accum


def generation_bytes(arch: Architecture, setup: TrainingSetup) -> float:
    """The KV cache of one generation round (every answer at its full length) and the sampler's buffers."""
    answers = answers_per_generation(setup)
    cache = kv_cache_bytes(arch, setup.seq_len, answers, compute_bytes(setup))
    return cache + SAMPLING_COPIES * answers * arch.vocab_size * K.FP32


def scored_tokens(setup: TrainingSetup) -> int:
    """Tokens of one micro-batch whose log-probabilities the loss needs: the answers', not the prompts'."""
    return setup.micro_batch * setup.completion_len
