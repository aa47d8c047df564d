"""The job flags that `plan`, `recommend` (and later `launch`) share, and turning them into estimator
inputs: defaults < ``--spec`` file < flags.

``@with_job_options`` adds every job flag to a command's signature (typer reads the signature), and
hands the command only the flags the user gave, as ``job: dict``. Every flag defaults to None so an
explicit flag can override the same field of the spec.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.plan import DataSize
from tuneplan.cli.choices import check_choice

if typing.TYPE_CHECKING:
    from planner.spec import JobSpec

_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("model", Optional[str], typer.Option(None, "--model", "-m", help="Catalog id, Hub id, or a directory/config.json.")),
    ("spec", Optional[Path], typer.Option(None, "--spec", help="A job spec YAML; flags override its fields.")),
    ("task", Optional[str], typer.Option(None, help="sft | dpo | classify | embed")),
    ("method", Optional[str], typer.Option(None, help="full | lora | qlora | spectrum")),
    ("quant", Optional[str], typer.Option(None, help="none | int8 | nf4 | gptq4")),
    ("precision", Optional[str], typer.Option(None, help="bf16 | fp16 | fp32")),
    ("optimizer", Optional[str], typer.Option(
        None, help="adamw | adamw_8bit | paged_adamw_8bit | paged_adamw_32bit | adafactor | sgd")),
    ("seq_len", Optional[int], typer.Option(None, help="Maximum tokens per sequence.")),
    ("batch_size", Optional[int], typer.Option(None, help="Micro-batch size per GPU.")),
    ("grad_accum", Optional[int], typer.Option(None, help="Gradient accumulation steps.")),
    ("grad_ckpt", Optional[bool], typer.Option(None, "--grad-ckpt/--no-grad-ckpt", help="Gradient checkpointing (default on).")),
    ("attn", Optional[str], typer.Option(None, help="sdpa | flash | eager")),
    ("packing", Optional[bool], typer.Option(None, "--packing/--no-packing", help="Pack sequences to --seq-len.")),
    ("lora_r", Optional[int], typer.Option(None, help="LoRA rank.")),
    ("lora_targets", Optional[str], typer.Option(None, help="all-linear, or module names: q,k,v,o,gate,up,down")),
    ("kernels", Optional[str], typer.Option(None, help="none | liger | unsloth")),
    ("gpus", Optional[int], typer.Option(None, help="GPUs per run.")),
    ("sharding", Optional[str], typer.Option(None, help="none | ddp | fsdp | zero2 | zero3")),
    ("gpu", Optional[str], typer.Option(None, help="Only this GPU (canonical name, e.g. H100, A100-80GB, RTX4090).")),
    ("examples", Optional[int], typer.Option(None, help="Training examples.")),
    ("avg_tokens", Optional[int], typer.Option(None, help="Average tokens per example.")),
    ("epochs", Optional[float], typer.Option(None, help="Epochs.")),
)
JOB_FLAGS = tuple(name for name, _, _ in _OPTIONS)

# Flag name → TrainingSetup field, for overriding a spec.
_SETUP_FLAGS = {
    "task": "task", "method": "method", "quant": "quant", "precision": "precision", "optimizer": "optimizer",
    "seq_len": "seq_len", "batch_size": "micro_batch", "grad_accum": "grad_accum", "grad_ckpt": "grad_ckpt",
    "attn": "attn", "packing": "packing", "lora_r": "lora_r", "kernels": "kernels", "gpus": "gpus",
    "sharding": "sharding",
}
_CHOICES = {
    "task": ("sft", "dpo", "classify", "embed"), "method": ("full", "lora", "qlora", "spectrum"),
    "quant": ("none", "int8", "nf4", "gptq4"), "precision": ("bf16", "fp16", "fp32"),
    "optimizer": ("adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor", "sgd"),
    "attn": ("sdpa", "flash", "eager"), "kernels": ("none", "liger", "unsloth"),
    "sharding": ("none", "ddp", "fsdp", "zero2", "zero3"),
}


def with_job_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the job flags to ``command``; it receives the ones given as ``job: dict``."""
    hints = typing.get_type_hints(command)
    own = [p.replace(annotation=hints.get(p.name, p.annotation))
           for p in inspect.signature(command).parameters.values() if p.name != "job"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
              for name, annotation, option in _OPTIONS]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        job = {name: kwargs.pop(name) for name in JOB_FLAGS if name in kwargs}
        return command(job={k: v for k, v in job.items() if v is not None}, **kwargs)

    params = shared + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the signature above, not the command's
    return wrapper


@dataclass(frozen=True)
class JobInputs:
    """The estimator inputs the flags and the spec describe, and the spec itself when one was given."""

    setup: TrainingSetup
    data: DataSize
    model_name: str
    spec: "JobSpec | None"


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
    changes = {field: flags[flag] for flag, field in _SETUP_FLAGS.items() if flag in flags}
    if "lora_targets" in flags:
        changes["lora_targets"] = _targets(flags["lora_targets"])
    setup = _finish(replace(base, **changes))
    model_name = flags.get("model", model_name)
    if not model_name:
        raise BadInput("give --model (a catalog id, Hub id or config.json) or --spec job.yaml")
    return JobInputs(setup, _data_size(flags, spec_data), model_name, spec)


def _check_flags(flags: dict[str, Any]) -> None:
    for name, allowed in _CHOICES.items():
        if name in flags:
            check_choice(name, flags[name], allowed)
    for name in ("seq_len", "batch_size", "grad_accum", "lora_r", "gpus", "examples", "avg_tokens", "context"):
        if name in flags and flags[name] <= 0:
            raise BadInput(f"--{name.replace('_', '-')} must be positive, got {flags[name]}")
    if "epochs" in flags and flags["epochs"] <= 0:
        raise BadInput(f"--epochs must be positive, got {flags['epochs']}")


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
    if setup.gpus > 1 and setup.sharding == "none":
        setup = replace(setup, sharding="ddp")
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
