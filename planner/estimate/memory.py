"""Peak training memory per GPU, where it falls, and its breakdown.

The peak is the larger of two moments of a steady-state step (optimizer state already exists):
  * start of backward: weights + state + every saved activation + the loss's logits buffers
    (plus gradients when accumulation keeps them between micro-batches),
  * end of backward / optimizer step: weights + state + all gradients + the scratch of that moment
    (tied-embedding gradient sums, the optimizer's temporaries).
For the Hugging Face stack the first one usually wins, which is why "weights + grads + 2×Adam +
activations" over-states some runs and under-states others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.arch import Architecture
from planner.estimate import constants as K
from planner.estimate.activations import BlockTraining, block_bytes_per_token, compute_bytes
from planner.estimate.grpo import answers_per_generation, generation_bytes, scored_tokens
from planner.estimate.params import StaticMemory, block_training, expert_delta_bytes, static_memory
from planner.estimate.profiles import StackProfile, stack_profile
from planner.estimate.setup import TrainingSetup
from planner.units import GIB

BREAKDOWN_KEYS = ("weights", "adapter", "gradients", "optimizer", "activations", "logits", "overhead")

# CUDA context, cuBLAS/cuDNN workspaces and the kernels a training process loads, as nvidia-smi
# shows them beside the tensors (calibrated on the nvidia-smi rows of the published measurements).
CUDA_CONTEXT_BYTES = 1.0 * GIB
# Allocations every training process makes besides the model's tensors (cuBLAS/cuDNN workspaces taken
# through the caching allocator, RNG state, dataloader pinned buffers on the device): calibrated.
WORKSPACE_BYTES = 0.75 * GIB
# While a checkpointed block runs backward, its recomputed activations and the gradients flowing
# through it (input grads, MLP/attention grads) coexist: the gradient buffers are about this share of
# the block's saved bytes (fitted on the checkpointed rows of bench/results/trace_grid.csv).
BLOCK_BACKWARD_TRANSIENT = 0.5
# PyTorch's caching allocator reserves more than it hands out (block rounding, fragmentation):
# max_memory_reserved / max_memory_allocated on training steps (calibrated).
ALLOCATOR_RESERVE_FRACTION = 0.12
# On a GPU the activation and logits terms run above the tensor accounting that the meta-device
# traces check: flash-attention's backward keeps fp32 accumulators, cuBLAS/cuDNN take workspaces, and
# the many short-lived blocks of varying shape are where the allocator wastes most. Calibrated on
# the public measurements (tests/fixtures/measured-public.csv); the traces are compared without it.
CUDA_ACTIVATION_OVERHEAD = 0.20


@dataclass(frozen=True)
class MemoryEstimate:
    """Per-GPU peak memory in bytes, in the three views people measure it with."""

    allocated: float
    reserved: float
    nvidia_smi: float
    breakdown: dict[str, float]
    phase: str
    static: StaticMemory
    activations_per_token_block: dict[str, float]
    tensors: float
    notes: tuple[str, ...] = field(default=())

    def in_view(self, metric: str) -> float:
        """The peak as a given tool reports it: 'allocated', 'reserved' or 'nvidia-smi'."""
        return {"allocated": self.allocated, "reserved": self.reserved}.get(metric, self.nvidia_smi)


def _mix(frozen: dict[str, float], trained: dict[str, float], share: float) -> dict[str, float]:
    return {k: frozen[k] + share * (trained[k] - frozen[k]) for k in frozen}


def block_inventory(arch: Architecture, setup: TrainingSetup, profile: StackProfile) -> dict[str, float]:
    """Saved bytes per token for one block (Spectrum: a share of the block trains)."""
    context = setup.seq_len
    if setup.method != "spectrum":
        return block_bytes_per_token(arch, setup, profile, block_training(arch, setup), context)
    names = frozenset(lin.name for lin in arch.layer_linears)
    frozen = block_bytes_per_token(arch, setup, profile, BlockTraining(frozenset(), frozenset(), False), context)
    trained = block_bytes_per_token(arch, setup, profile, BlockTraining(names, frozenset(), False), context)
    return _mix(frozen, trained, setup.spectrum_fraction)


def activation_bytes(arch: Architecture, setup: TrainingSetup, profile: StackProfile,
                     per_block: float, logits: float) -> tuple[float, float]:
    """Saved activations and logits buffers alive together at the peak of backward, per micro-batch.

    Without checkpointing everything is saved when the loss's backward runs. With it, only block
    inputs are kept, and the peak is either that moment (logits buffers alive) or a block's
    backward: its recomputed activations plus the gradients flowing through it.
    """
    tokens = setup.tokens_per_micro_batch
    c = compute_bytes(setup)
    trains_head = setup.method == "full"
    outside_blocks = K.FP32 * arch.hidden_size + (c * arch.hidden_size if trains_head else 0) + 8
    fixed = expert_delta_bytes(arch, setup)
    if not setup.grad_ckpt:
        return tokens * (arch.num_layers * per_block + outside_blocks) + arch.num_layers * fixed, logits
    kept_layers = 2 if profile.offload_checkpoints else arch.num_layers
    kept = tokens * (kept_layers * c * arch.hidden_size + outside_blocks)
    passes = 2 if setup.task == "embed" else 1  # anchor and positive are recomputed one pass at a time
    recompute = tokens / passes * per_block * (1 + BLOCK_BACKWARD_TRANSIENT) + fixed
    if recompute > logits:
        return kept + recompute, 0.0
    return kept, logits


def logits_bytes(arch: Architecture, setup: TrainingSetup, profile: StackProfile) -> float:
    """Loss-time buffers the size of the logits (causal LMs only; classifier heads are tiny).

    TRL's fused LM head never builds the logits, but its backward accumulates the gradients of the
    hidden states and (when the head trains) of the head's weight in fp32.
    """
    if not arch.is_causal:
        return 0.0
    tokens = scored_tokens(setup) if setup.task == "grpo" else setup.tokens_per_micro_batch
    total = tokens * arch.vocab_size * profile.logits_bytes_per_element
    if setup.uses_fused_lm_head and setup.kernels == "none":
        total += K.FP32 * tokens * arch.hidden_size
        if setup.method == "full":
            total += K.FP32 * arch.vocab_size * arch.hidden_size / setup.shards
    return total


def autocast_weight_copies(arch: Architecture, setup: TrainingSetup) -> float:
    """Mixed precision over fp32 weights (fp16 full fine-tunes, any bf16-mixed run whose block linears are
    not quantized): autocast's 16-bit copy of every matmul weight is kept by the matmul for backward (the
    input's gradient needs it), so it lives from the forward until its layer's backward."""
    fp32_weights = setup.precision == "bf16-mixed" or (setup.precision == "fp16" and setup.method in ("full", "spectrum"))
    if not fp32_weights or setup.quant != "none":
        return 0.0
    return 2.0 * arch.num_layers * sum(lin.weight_params for lin in arch.layer_linears) / setup.shards


def optimizer_temporaries(setup: TrainingSetup, profile: StackProfile, static: StaticMemory) -> float:
    """Parameter-sized scratch tensors of the optimizer step (foreach AdamW keeps one set)."""
    if setup.optimizer != "adamw" or setup.optimizer_in_backward or setup.sharding in ("zero2", "zero3"):
        return 0.0
    if setup.optimizer_impl == "loop":  # one parameter at a time: a scratch the size of the largest one
        return static.largest_trainable_params * static.param_bytes
    return profile.optimizer_temp_fraction * static.gradients


def end_of_backward_transients(arch: Architecture, setup: TrainingSetup, static: StaticMemory) -> float:
    """Scratch that exists only around the end of backward or inside the optimizer step.

    * Tied input/output embeddings that train get two gradients (LM head, embedding lookup) that
      autograd sums: for a moment both partial gradients and their sum exist (traced).
    * transformers' Adafactor updates each parameter in fp32: a bf16 weight needs fp32 copies of the
      weight, its gradient and the update (12 bytes per element of the largest matrix, traced).
    """
    total = 0.0
    if arch.tie_embeddings and arch.is_causal and setup.method == "full":
        total += 2 * arch.vocab_size * arch.hidden_size * static.param_bytes / setup.shards
    if setup.optimizer == "adafactor":
        per_element = 12 if static.param_bytes == 2 else 8
        total = max(total, static.largest_trainable_params * per_element / setup.shards)
    return total


def estimate_memory(arch: Architecture, setup: TrainingSetup) -> MemoryEstimate:
    """Peak memory per GPU for one steady-state training step of ``setup`` on ``arch``."""
    profile = stack_profile(setup)
    static = static_memory(arch, setup, profile)
    inventory = block_inventory(arch, setup, profile)
    acts, logits = activation_bytes(arch, setup, profile, sum(inventory.values()),
                                    logits_bytes(arch, setup, profile))
    with_reference = setup.task == "dpo" or (setup.task == "grpo" and setup.kl_coef > 0)
    reference = static.weights if with_reference and setup.method in ("full", "spectrum") else 0.0
    amp_copies = autocast_weight_copies(arch, setup)
    resident = static.weights + reference + static.adapter + static.optimizer + static.gathered
    grads_kept = static.gradients if setup.grad_accum > 1 and not setup.optimizer_in_backward else 0.0
    final_grads = 0.0 if setup.optimizer_in_backward else static.gradients
    phases = {
        "start of backward": dict(grads=grads_kept + static.ddp_buckets, acts=acts + amp_copies, logits=logits),
        "end of backward": dict(grads=final_grads + static.ddp_buckets + max(
            optimizer_temporaries(setup, profile, static), end_of_backward_transients(arch, setup, static)),
            acts=0.0, logits=0.0),
    }
    for moment in phases.values():
        moment["cache"] = 0.0
    if setup.task == "grpo":  # answers are sampled with the gradients freed, the KV cache full; ZeRO-3 has gathered
        # every weight for it (TRL's ds3_gather_for_generation), FSDP one layer at a time (already in `gathered`)
        whole = static.weights * (setup.shards - 1) if setup.sharding == "zero3" else 0.0
        phases["generation of the answers"] = dict(grads=0.0, acts=0.0, logits=0.0,
                                                   cache=generation_bytes(arch, setup) + whole)
    phase = max(phases, key=lambda p: sum(phases[p].values()))
    at_peak = phases[phase]
    tensors = resident + sum(at_peak.values())
    allocated = tensors + CUDA_ACTIVATION_OVERHEAD * (at_peak["acts"] + at_peak["logits"]) + WORKSPACE_BYTES
    reserved = allocated * (1 + ALLOCATOR_RESERVE_FRACTION)
    smi = reserved + CUDA_CONTEXT_BYTES
    breakdown = {
        "weights": static.weights + reference + static.gathered,
        "adapter": static.adapter,
        "gradients": at_peak["grads"],
        "optimizer": static.optimizer,
        "activations": at_peak["acts"] + at_peak["cache"],
        "logits": at_peak["logits"],
        "overhead": smi - tensors,
    }
    notes = static.notes
    if reference:
        notes += (f"{setup.task}: a frozen reference copy of the model is held beside the policy",)
    if setup.task == "grpo":
        notes += (f"grpo: {answers_per_generation(setup)} answers generated at once per GPU hold a KV cache of "
                  f"{generation_bytes(arch, setup) / GIB:.2f} GiB"
                  + (" (the peak: counted under activations)" if phase == "generation of the answers" else ""),)
    return MemoryEstimate(allocated, reserved, smi, breakdown, phase, static, inventory, tensors, notes)
