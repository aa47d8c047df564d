"""Turning job flags (from the CLI or the TUI's form) into estimator inputs: defaults < ``--spec`` < flags.

Pure: no typer, no textual. ``tuneplan.cli.job_options`` declares the flags for the CLI; the TUI's Plan
screen builds the same ``flags`` dict from its form and calls ``job_inputs`` too, so both show the same
numbers for the same job.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, replace
from typing import Any

from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.plan import DataSize
from tuneplan.cli.choices import check_choice

if typing.TYPE_CHECKING:
    from planner.models import ResolvedModel
    from planner.spec import JobSpec

# Flag name → TrainingSetup field, for overriding a spec.
_SETUP_FLAGS = {
    "task": "task", "method": "method", "quant": "quant", "precision": "precision", "optimizer": "optimizer",
    "seq_len": "seq_len", "batch_size": "micro_batch", "grad_accum": "grad_accum", "grad_ckpt": "grad_ckpt",
    "attn": "attn", "packing": "packing", "lora_r": "lora_r", "kernels": "kernels", "gpus": "gpus",
    "nodes": "nodes", "sharding": "sharding",
}
_CHOICES = {
    "task": ("sft", "dpo", "classify", "embed", "ner", "reward", "rerank", "grpo"),
    "method": ("full", "lora", "qlora", "spectrum"),
    "quant": ("none", "int8", "nf4", "gptq4"), "precision": ("bf16", "bf16-mixed", "fp16", "fp32"),
    "optimizer": ("adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor", "sgd"),
    "attn": ("sdpa", "flash", "eager"), "kernels": ("none", "liger", "unsloth"),
    "sharding": ("none", "ddp", "fsdp", "zero2", "zero3"),
    "stack": ("tuneplan", "hf-legacy", "axolotl", "llama-factory", "unsloth", "torchtune", "litgpt"),
}


@dataclass(frozen=True)
class JobInputs:
    """The estimator inputs the flags and the spec describe, and the spec itself when one was given."""

    setup: TrainingSetup
    data: DataSize
    model_name: str
    spec: "JobSpec | None"
    seq_len_given: bool = True

    def for_model(self, model: "ResolvedModel") -> "JobInputs":
        """The inputs for this model: a sequence length nobody gave (the 2,048 default) shortened to what the
        model reads (BERT's 512), so the default is never the reason a plan is refused. One given by flag or
        spec is kept, and a model that cannot read it refuses it (``planner.limits``)."""
        arch = model.arch
        if self.seq_len_given or not arch.positions_known or self.setup.seq_len <= arch.max_positions:
            return self
        return replace(self, setup=replace(self.setup, seq_len=arch.max_positions))


def job_inputs(flags: dict[str, Any]) -> JobInputs:
    """Defaults < spec < flags, validated (BadInput with one line for any mistake)."""
    _check_flags(flags)
    spec = None
    if "spec" in flags:
        from planner.estimate.setup import setup_from_spec
        from planner.spec import load_spec

        spec = load_spec(flags["spec"])
        base, model_name = setup_from_spec(spec), spec.model
        spec_data = (spec.data.examples, spec.data.avg_tokens, spec.training.epochs)
    else:
        base, model_name, spec_data = TrainingSetup(), None, (None, None, None)
    measured = None
    if spec is not None and not {"examples", "avg_tokens", "epochs"} & set(flags):
        from remote_jobs.estimate import spec_data_size, spec_train_file

        measured = spec_data_size(spec, spec_train_file(spec, flags["spec"]))  # as the launch sizes it
    changes = {field: flags[flag] for flag, field in _SETUP_FLAGS.items() if flag in flags}
    if "lora_targets" in flags:
        changes["lora_targets"] = _targets(flags["lora_targets"])
    setup = _finish(replace(base, **changes))
    if changes:  # the stack's habits follow the changed job (a full fine-tune on hf-legacy loads in fp32)
        from planner.estimate.stacks import with_stack

        precision_given = "precision" in flags or (spec is not None and "precision" in spec.training.model_fields_set)
        setup = with_stack(setup, flags.get("stack", setup.stack), precision_given).validated()
    model_name = flags.get("model", model_name)
    if not model_name:
        raise BadInput("give --model (a catalog id, Hub id or config.json) or --spec job.yaml")
    given = "seq_len" in flags or (spec is not None and "seq_len" in spec.training.model_fields_set)
    return JobInputs(setup, measured or _data_size(flags, spec_data), model_name, spec, given)


def _check_flags(flags: dict[str, Any]) -> None:
    for name, allowed in _CHOICES.items():
        if name in flags:
            check_choice(name, flags[name], allowed)
    from planner.spec import LIMITS

    most = {**LIMITS, "batch_size": LIMITS["micro_batch_size"], "context": LIMITS["seq_len"]}
    for name in ("seq_len", "batch_size", "grad_accum", "lora_r", "gpus", "nodes", "examples", "avg_tokens", "context",
                 "epochs"):
        if name not in flags:
            continue
        flag = f"--{name.replace('_', '-')}"
        if not flags[name] > 0:  # also catches nan
            raise BadInput(f"{flag} must be positive, got {flags[name]}")
        if flags[name] > most[name]:
            raise BadInput(f"{flag} ({name}) must be at most {most[name]:,}, got {flags[name]:,}")


def _targets(text: str) -> tuple[str, ...] | None:
    cleaned = text.strip()
    if cleaned.lower() in ("all-linear", "all_linear", "all"):
        return None
    parts = tuple(p.strip() for p in cleaned.split(",") if p.strip())
    if not parts:
        raise BadInput("--lora-targets is empty: use all-linear or module names like q,k,v,o")
    return parts


def _finish(setup: TrainingSetup) -> TrainingSetup:
    """Fill implied settings (qlora → nf4; several GPUs → ddp) and reject impossible ones."""
    if setup.method == "qlora" and setup.quant == "none":
        setup = replace(setup, quant="nf4")
    if setup.world_size > 1 and setup.sharding == "none":
        setup = replace(setup, sharding="ddp")
    if setup.task == "grpo" and setup.completion_len == 0:  # --task grpo by flag: the spec's grpo defaults
        from planner.spec import GrpoSettings

        grpo = GrpoSettings()
        completion = min(grpo.max_completion_length, setup.seq_len // 2)
        setup = replace(setup, num_generations=grpo.num_generations, completion_len=completion, kl_coef=grpo.kl_coef)
    return setup.validated()


def _data_size(flags: dict[str, Any], spec_data: tuple) -> DataSize:
    examples = flags.get("examples", spec_data[0])
    avg = flags.get("avg_tokens", spec_data[1])
    epochs = flags.get("epochs", spec_data[2])
    assumed = examples is None or avg is None
    return DataSize(
        examples=int(examples or DataSize.examples), avg_tokens=int(avg or DataSize.avg_tokens),
        epochs=float(epochs or DataSize.epochs), assumed=assumed,
    )
