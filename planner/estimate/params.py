"""Which parameters train, how many bytes each kind of weight takes, and the per-GPU static memory
(weights, adapter, gradients, optimizer state) after sharding."""

from __future__ import annotations

from dataclasses import dataclass

from planner.arch import Architecture
from planner.estimate import constants as K
from planner.estimate.activations import BlockTraining
from planner.estimate.profiles import StackProfile
from planner.estimate.setup import TrainingSetup

# A classification head is small; two labels are assumed when the spec does not say.
DEFAULT_NUM_LABELS = 2


@dataclass(frozen=True)
class StaticMemory:
    """Per-GPU bytes that exist for the whole step (gradients: once backward has produced them)."""

    params_total: int
    params_trainable: int
    weights: float
    adapter: float
    gradients: float
    optimizer: float
    ddp_buckets: float
    gathered: float
    largest_trainable_params: int
    param_bytes: int
    notes: tuple[str, ...]


def block_training(arch: Architecture, setup: TrainingSetup) -> BlockTraining:
    """What trains inside one block for the setup's method."""
    names = frozenset(lin.name for lin in arch.layer_linears)
    if setup.method == "full":
        return BlockTraining(names, frozenset(), True)
    if setup.method == "spectrum":
        return BlockTraining(names, frozenset(), False)  # mixed with a frozen block by the caller
    wrapped = frozenset(lin.name for lin in arch.linears_matching(setup.lora_targets))
    return BlockTraining(frozenset(), wrapped, False)


def head_params(arch: Architecture, setup: TrainingSetup) -> int:
    """Parameters a task adds on top of the base model (a sequence or token classification head, a reward head)."""
    if setup.task in ("classify", "ner"):
        return arch.hidden_size * DEFAULT_NUM_LABELS + DEFAULT_NUM_LABELS
    if setup.task == "reward":
        return arch.hidden_size  # one output, no bias
    if setup.task == "rerank":
        return arch.hidden_size + 1  # a cross-encoder's one relevance score
    return 0


def lora_params(arch: Architecture, setup: TrainingSetup) -> int:
    wrapped = arch.linears_matching(setup.lora_targets)
    per_block = sum(setup.lora_r * (lin.in_features + lin.out_features) for lin in wrapped if lin.experts == 1)
    if any(lin.experts > 1 for lin in wrapped):
        per_block += expert_lora_params(arch, setup.lora_r)
    head = setup.lora_r * (arch.hidden_size + arch.vocab_size) if setup.lora_on_head else 0
    return arch.num_layers * per_block + head


def expert_lora_params(arch: Architecture, r: int) -> int:
    """LoRA on transformers-5 fused expert weights, as PEFT wraps them (checked on a tiny Qwen3-MoE):
    the fused gate+up weight (E, 2I, H) gets rank 2r per expert, the down weight (E, H, I) rank r."""
    experts = arch.num_experts
    inter = next(lin.out_features for lin in arch.layer_linears if lin.experts > 1)
    hidden = arch.hidden_size
    return 2 * r * experts * (2 * inter + hidden) + r * experts * (inter + hidden)


def expert_delta_bytes(arch: Architecture, setup: TrainingSetup) -> float:
    """PEFT adds B·A to each fused expert weight in the forward: one weight-sized tensor per block,
    kept for backward (traced: 1.1 GiB per Qwen3-30B-A3B block in bf16)."""
    if not setup.is_lora or not any(lin.experts > 1 for lin in arch.linears_matching(setup.lora_targets)):
        return 0.0
    weights = sum(lin.weight_params for lin in arch.layer_linears if lin.experts > 1)
    return weights * (4 if setup.precision == "fp32" else 2)


def trainable_params(arch: Architecture, setup: TrainingSetup) -> int:
    """Parameters that receive gradients and optimizer state."""
    if setup.method == "full":
        return arch.total_params + head_params(arch, setup)
    if setup.method == "spectrum":
        block_linears = sum(lin.params for lin in arch.layer_linears)
        return int(setup.spectrum_fraction * arch.num_layers * block_linears)
    return lora_params(arch, setup) + head_params(arch, setup)


def trainable_param_bytes(setup: TrainingSetup, profile: StackProfile) -> int:
    """Bytes of one trainable parameter (= its gradient): fp16 and bf16-mixed keep fp32 masters."""
    if setup.is_lora:
        return profile.adapter_bytes
    return 4 if setup.precision in ("fp16", "fp32", "bf16-mixed") else 2


def _quant_bytes(quant: str) -> float:
    return {"nf4": K.NF4_BYTES_PER_PARAM, "int8": K.INT8_BYTES_PER_PARAM,
            "gptq4": K.GPTQ4_BYTES_PER_PARAM}[quant]


def base_weight_bytes(arch: Architecture, setup: TrainingSetup) -> float:
    """The base model's weights on one replica: quantized block linears where asked, else the dtype."""
    dtype_bytes = K.BYTES[setup.precision]
    if setup.precision == "bf16-mixed" and setup.sharding in ("zero2", "zero3"):
        dtype_bytes = 2  # DeepSpeed's bf16 engine casts the model to bf16; its fp32 masters are optimizer state
    if setup.method in ("full", "spectrum") and setup.precision == "fp16":
        dtype_bytes = 4  # fp16 training keeps fp32 master weights (autocast)
    if setup.quant == "none":
        return arch.total_params * dtype_bytes
    quantized = arch.num_layers * sum(lin.weight_params for lin in arch.layer_linears)
    return quantized * _quant_bytes(setup.quant) + (arch.total_params - quantized) * dtype_bytes


def optimizer_bytes(arch: Architecture, setup: TrainingSetup, trainable: int, param_bytes: int) -> tuple[float, str | None]:
    """Optimizer state for ``trainable`` parameters, and a note when it is not on the GPU."""
    opt = setup.optimizer
    if setup.sharding in ("zero2", "zero3"):
        return trainable * 12.0, None  # DeepSpeed: fp32 master weights + two fp32 Adam states
    if opt == "adamw":
        return trainable * K.ADAM_STATES * param_bytes, None
    if opt == "adamw_8bit":
        return trainable * K.BNB_8BIT_STATE_BYTES, None
    if opt in ("paged_adamw_8bit", "paged_adamw_32bit"):
        note = f"{opt}: optimizer state is paged (CUDA unified memory) and not counted on the GPU"
        return trainable * K.PAGED_STATES_ON_GPU, note
    if opt == "adafactor":
        return _adafactor_bytes(arch, setup, trainable), None
    return 0.0, None  # plain SGD without momentum


def _adafactor_bytes(arch: Architecture, setup: TrainingSetup, trainable: int) -> float:
    """Factored second moment: one fp32 row + column vector per matrix (no first moment)."""
    if setup.is_lora:
        per_block = sum(2 * setup.lora_r + lin.in_features + lin.out_features
                        for lin in arch.linears_matching(setup.lora_targets))
        return 4.0 * arch.num_layers * per_block
    per_block = sum(lin.in_features + lin.out_features for lin in arch.layer_linears)
    share = setup.spectrum_fraction if setup.method == "spectrum" else 1.0
    embed = (arch.vocab_size + arch.hidden_size) * (2 if arch.lm_head_params else 1)
    return 4.0 * (share * arch.num_layers * per_block + (embed if setup.method == "full" else 0))


def static_memory(arch: Architecture, setup: TrainingSetup, profile: StackProfile) -> StaticMemory:
    """Weights, adapter, gradients and optimizer state per GPU, after FSDP/ZeRO sharding."""
    trainable = trainable_params(arch, setup)
    param_bytes = trainable_param_bytes(setup, profile)
    optimizer, note = optimizer_bytes(arch, setup, trainable, param_bytes)
    shards = setup.shards
    weight_shards = shards if setup.sharding in ("fsdp", "zero3") else 1
    weights = base_weight_bytes(arch, setup) / weight_shards
    if profile.unties_embeddings and arch.tie_embeddings and arch.is_causal:  # a second vocab × hidden matrix
        weights += arch.vocab_size * arch.hidden_size * K.BYTES[setup.precision] / weight_shards
    adapter = (lora_params(arch, setup) + head_params(arch, setup)) * profile.adapter_bytes if setup.is_lora else 0.0
    gradients = trainable * param_bytes / shards
    buckets = trainable * param_bytes if setup.sharding == "ddp" else 0.0
    gathered = 0.0
    if weight_shards > 1:  # FSDP / ZeRO-3 gather one block ahead of the one running
        gathered = 2 * arch.layer_params * K.BYTES[setup.precision]
    notes = (note,) if note else ()
    largest = max(lin.in_features * lin.out_features for lin in arch.layer_linears)
    if setup.method == "full":
        largest = max(largest, arch.vocab_size * arch.hidden_size)
    elif setup.is_lora:
        largest = setup.lora_r * max(max(lin.in_features, lin.out_features) for lin in arch.layer_linears)
    return StaticMemory(arch.total_params + head_params(arch, setup), trainable, weights,
                        adapter / weight_shards, gradients, optimizer / shards, buckets, gathered,
                        largest, param_bytes, notes)
