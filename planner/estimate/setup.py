"""The inputs of a training estimate, flattened from a JobSpec and checked for impossible combinations.

``framework`` selects how the training stack stores things: ``hf`` (transformers + PEFT + TRL, what
tuneplan's templates run), or ``torchtune`` / ``litgpt`` (used to score the estimator on published
measurements of those stacks). Their extra switches (chunked cross-entropy, optimizer-in-backward,
activation offloading) are not CLI flags; they exist so published rows can be described faithfully.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from planner.errors import BadInput

if TYPE_CHECKING:  # pydantic models cost ~0.1 s to build: `plan` with flags never needs them
    from planner.spec import JobSpec

TASKS = ("sft", "dpo", "classify", "embed", "ner", "reward", "rerank", "grpo", "smoke")
METHODS = ("full", "lora", "qlora", "spectrum")
FRAMEWORKS = ("hf", "torchtune", "litgpt")


@dataclass(frozen=True)
class TrainingSetup:
    """Everything the memory and time estimators read about a run."""

    task: str = "sft"
    method: str = "lora"
    quant: str = "none"
    precision: str = "bf16"
    optimizer: str = "adamw"
    seq_len: int = 2048
    micro_batch: int = 1
    grad_accum: int = 1
    grad_ckpt: bool = True
    attn: str = "sdpa"
    packing: bool = False
    lora_r: int = 16
    lora_targets: tuple[str, ...] | None = None
    lora_dropout: float = 0.05
    lora_on_head: bool = False
    spectrum_fraction: float = 0.25
    kernels: str = "none"
    num_generations: int = 1
    """GRPO: answers sampled per prompt (``seq_len`` is then the prompt's room plus ``completion_len``)."""
    completion_len: int = 0
    """GRPO: the longest generated answer, in tokens."""
    kl_coef: float = 0.0
    """GRPO: the KL penalty; above 0 every step also runs the reference model's forward."""
    gpus: int = 1
    """GPUs (processes) per node."""
    nodes: int = 1
    sharding: str = "none"
    framework: str = "hf"
    stack: str = "tuneplan"
    """The stack the plan is for (``planner.estimate.stacks``): it sets ``framework`` and the knobs below."""
    # TRL >= 1.0 SFT/DPO trainers (tuneplan's templates) score tokens in tiles and never hold the
    # (tokens × vocab) logits; None = what the templates do for the task.
    fused_lm_head: bool | None = None
    optimizer_impl: str = "fused"  # fused (HF Trainer default on CUDA) | foreach | loop
    autocast: bool = True  # HF Trainer with bf16/fp16 runs the forward under CUDA autocast
    chunked_ce: bool = False
    optimizer_in_backward: bool = False
    activation_offload: bool = False
    compiled: bool = False

    @property
    def is_lora(self) -> bool:
        return self.method in ("lora", "qlora")

    @property
    def uses_fused_lm_head(self) -> bool:
        if self.fused_lm_head is None:
            return self.framework == "hf" and self.task in ("sft", "dpo", "grpo")
        return self.fused_lm_head

    @property
    def tokens_per_micro_batch(self) -> int:
        """Sequences the model sees per micro-step: DPO and a reward model run chosen and rejected side by side."""
        pairs = 2 if self.task in ("dpo", "embed", "reward") else 1
        return self.seq_len * self.micro_batch * pairs

    @property
    def world_size(self) -> int:
        return self.gpus * self.nodes

    @property
    def shards(self) -> int:
        """How many ways parameters/grads/states are split (1 unless FSDP or ZeRO over several GPUs, on every
        node: FSDP full-shard and ZeRO shard across the whole world)."""
        return self.world_size if self.sharding in ("fsdp", "zero2", "zero3") and self.world_size > 1 else 1

    def validated(self) -> TrainingSetup:
        """Self, after rejecting combinations no training stack can run (BadInput, exit code 2)."""
        checks = [
            (self.task not in TASKS, f"unknown task '{self.task}'"),
            (self.method not in METHODS, f"unknown method '{self.method}'"),
            (self.method == "full" and self.quant != "none",
             f"a full fine-tune cannot train {self.quant} quantized weights: use --method qlora (or lora with --quant)"),
            (self.method == "spectrum" and self.quant != "none", "spectrum trains full-precision layers: use --quant none"),
            (self.method == "qlora" and self.quant not in ("nf4", "gptq4", "int8"),
             "qlora needs quantized base weights (nf4, int8 or gptq4)"),
            (self.task == "rerank" and self.method != "full", "task rerank trains every weight: method full"),
            (self.task in ("classify", "embed", "ner", "reward") and self.method not in ("full", "lora"),
             f"task {self.task} supports methods full and lora"),
            (self.task == "grpo" and self.method == "spectrum", "task grpo supports methods lora, qlora and full"),
            (self.task == "grpo" and (self.num_generations < 2 or self.completion_len <= 0
                                      or self.completion_len >= self.seq_len),
             "grpo needs num_generations of 2 or more and a completion shorter than the sequence"),
            (self.task == "grpo" and self.num_generations >= 2
             and self.micro_batch * self.grad_accum * self.world_size % self.num_generations != 0,
             f"grpo: micro-batch × grad-accum × GPUs = {self.micro_batch * self.grad_accum * self.world_size} answers "
             f"per step must be a multiple of num_generations = {self.num_generations}"),
            (self.sharding != "none" and self.world_size == 1 and self.sharding != "ddp",
             f"--sharding {self.sharding} needs --gpus 2 or more (or --nodes 2 or more)"),
            (self.world_size > 1 and self.sharding == "none", "several GPUs need a sharding: ddp, fsdp, zero2 or zero3"),
            (self.kernels == "unsloth" and self.gpus > 1, "unsloth kernels run on one GPU"),
            (self.attn == "flash" and self.precision == "fp32", "flash attention needs bf16 or fp16"),
        ]
        for bad, message in checks:
            if bad and message:
                raise BadInput(message)
        sizes = {"seq-len": self.seq_len, "batch-size": self.micro_batch, "grad-accum": self.grad_accum,
                 "gpus": self.gpus, "lora-r": self.lora_r}
        for name, value in sizes.items():
            if value <= 0:
                raise BadInput(f"--{name} must be positive, got {value}")
        if not 0 < self.spectrum_fraction <= 1:
            raise BadInput("spectrum top fraction must be in (0, 1]")
        return self


def setup_from_spec(spec: "JobSpec") -> TrainingSetup:
    """The estimator inputs a JobSpec describes."""
    t, r = spec.training, spec.resources
    gpus, sharding = r.cpu_processes or r.gpus, r.sharding  # a CPU rehearsal's processes stand for its GPUs
    if gpus * r.nodes > 1 and sharding == "none":
        sharding = "ddp"
    setup = TrainingSetup(
        task=spec.task, method=spec.method,
        quant=spec.effective_quantization, precision=t.precision,
        optimizer=t.optimizer, seq_len=t.seq_len, micro_batch=t.micro_batch_size, grad_accum=t.grad_accum,
        grad_ckpt=t.grad_ckpt, attn=t.attn, packing=t.packing, lora_r=spec.lora.r,
        lora_targets=spec.lora.target_tuple(), lora_dropout=spec.lora.dropout,
        spectrum_fraction=spec.spectrum.top_fraction, kernels=t.kernels, gpus=gpus, nodes=r.nodes, sharding=sharding,
    )
    if spec.task == "grpo":  # the sequence is the prompt's room and the answer's; training.seq_len is not read
        g = spec.grpo
        setup = replace(setup, seq_len=g.max_prompt_length + g.max_completion_length, num_generations=g.num_generations,
                        completion_len=g.max_completion_length, kl_coef=g.kl_coef)
    from planner.estimate.stacks import with_stack

    return with_stack(setup, t.stack, precision_given="precision" in t.model_fields_set).validated()

