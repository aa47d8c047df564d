"""Peak training memory per GPU, where it falls, and its breakdown.

The peak is the largest of three moments of a steady-state step (optimizer state already exists):
  * start of backward: weights + state + every saved activation + the loss's logits buffers
    (plus gradients when accumulation keeps them between micro-batches),
  * end of backward: weights + state + all gradients,
  * optimizer step: end of backward + the optimizer's temporaries.
For the Hugging Face stack the first one usually wins, which is why "weights + grads + 2×Adam +
activations" over-states some runs and under-states others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.arch import Architecture
from planner.estimate import constants as K
from planner.estimate.activations import BlockTraining, block_bytes_per_token, compute_bytes
from planner.estimate.params import StaticMemory, block_training, static_memory
from planner.estimate.profiles import StackProfile, stack_profile
from planner.estimate.setup import TrainingSetup
from planner.units import GIB

BREAKDOWN_KEYS = ("weights", "adapter", "gradients", "optimizer", "activations", "logits", "overhead")

# CUDA context, cuBLAS/cuDNN workspaces and the kernels a training process loads, as nvidia-smi
# shows them beside the tensors (calibrated on the nvidia-smi rows of the published measurements).
CUDA_CONTEXT_BYTES = 1.0 * GIB
# Allocations every training process makes besides the model's tensors (cuBLAS/cuDNN workspaces taken
# through the caching allocator, RNG state, dataloader pinned buffers on the device): calibrated.
WORKSPACE_BYTES = 0.5 * GIB
# PyTorch's caching allocator reserves more than it hands out (block rounding, fragmentation):
# max_memory_reserved / max_memory_allocated on training steps (calibrated).
ALLOCATOR_RESERVE_FRACTION = 0.08


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
                     per_block: float) -> float:
    """All saved activations of one micro-batch at the start of backward."""
    tokens = setup.tokens_per_micro_batch
    c = compute_bytes(setup)
    trains_head = setup.method == "full"
    outside_blocks = K.FP32 * arch.hidden_size + (c * arch.hidden_size if trains_head else 0) + 8
    if not setup.grad_ckpt:
        return tokens * (arch.num_layers * per_block + outside_blocks)
    kept_layers = 2 if profile.offload_checkpoints else arch.num_layers
    checkpoint_inputs = kept_layers * c * arch.hidden_size
    return tokens * (checkpoint_inputs + per_block + outside_blocks)


def logits_bytes(arch: Architecture, setup: TrainingSetup, profile: StackProfile) -> float:
    """Loss-time buffers the size of the logits (causal LMs only; classifier heads are tiny)."""
    if not arch.is_causal:
        return 0.0
    return setup.tokens_per_micro_batch * arch.vocab_size * profile.logits_bytes_per_element


def autocast_weight_copies(arch: Architecture, setup: TrainingSetup) -> float:
    """fp16 mixed precision over fp32 master weights: autocast's 16-bit copy of every matmul weight is
    kept by the matmul for backward, so it lives from the forward until its layer's backward."""
    if setup.precision != "fp16" or setup.method not in ("full", "spectrum"):
        return 0.0
    return 2.0 * arch.num_layers * sum(lin.weight_params for lin in arch.layer_linears) / setup.shards


def optimizer_temporaries(setup: TrainingSetup, profile: StackProfile, static: StaticMemory) -> float:
    """Parameter-sized scratch tensors of the optimizer step (foreach AdamW keeps one set)."""
    if setup.optimizer != "adamw" or setup.optimizer_in_backward or setup.sharding in ("zero2", "zero3"):
        return 0.0
    return profile.optimizer_temp_fraction * static.gradients


def estimate_memory(arch: Architecture, setup: TrainingSetup) -> MemoryEstimate:
    """Peak memory per GPU for one steady-state training step of ``setup`` on ``arch``."""
    profile = stack_profile(setup)
    static = static_memory(arch, setup, profile)
    inventory = block_inventory(arch, setup, profile)
    acts = activation_bytes(arch, setup, profile, sum(inventory.values()))
    logits = logits_bytes(arch, setup, profile)
    reference = static.weights if setup.task == "dpo" and setup.method in ("full", "spectrum") else 0.0
    amp_copies = autocast_weight_copies(arch, setup)
    resident = static.weights + reference + static.adapter + static.optimizer + static.gathered
    grads_kept = static.gradients if setup.grad_accum > 1 and not setup.optimizer_in_backward else 0.0
    final_grads = 0.0 if setup.optimizer_in_backward else static.gradients
    phases = {
        "start of backward": dict(grads=grads_kept + static.ddp_buckets, acts=acts + amp_copies, logits=logits),
        "optimizer step": dict(grads=final_grads + static.ddp_buckets + optimizer_temporaries(setup, profile, static),
                               acts=0.0, logits=0.0),
    }
    phase = max(phases, key=lambda p: sum(phases[p].values()))
    at_peak = phases[phase]
    tensors = resident + sum(at_peak.values())
    allocated = tensors + WORKSPACE_BYTES
    reserved = allocated * (1 + ALLOCATOR_RESERVE_FRACTION)
    smi = reserved + CUDA_CONTEXT_BYTES
    breakdown = {
        "weights": static.weights + reference + static.gathered,
        "adapter": static.adapter,
        "gradients": at_peak["grads"],
        "optimizer": static.optimizer,
        "activations": at_peak["acts"],
        "logits": at_peak["logits"],
        "overhead": smi - tensors,
    }
    notes = static.notes
    if setup.task == "dpo" and reference:
        notes += ("dpo: a frozen reference copy of the model is held beside the policy",)
    return MemoryEstimate(allocated, reserved, smi, breakdown, phase, static, inventory, notes)
