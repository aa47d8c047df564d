"""``tuneplan plan``: flags (or a job spec) → a memory/time estimate, as a table or JSON.

Every option defaults to None so that an explicitly given flag can override the same field of
``--spec`` (defaults < spec < flags).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.plan import DataSize, make_plan
from tuneplan.cli.choices import check_choice, resolve_gpus, resolve_model

# Flag name → TrainingSetup field, for overriding a spec.
_SETUP_FLAGS = {
    "task": "task", "method": "method", "quant": "quant", "precision": "precision", "optimizer": "optimizer",
    "seq_len": "seq_len", "batch_size": "micro_batch", "grad_accum": "grad_accum", "grad_ckpt": "grad_ckpt",
    "attn": "attn", "packing": "packing", "lora_r": "lora_r", "kernels": "kernels", "gpus": "gpus",
    "sharding": "sharding",
}


def plan(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Catalog id, Hub id, or a directory/config.json."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="A job spec YAML; flags override its fields."),
    task: Optional[str] = typer.Option(None, help="sft | dpo | classify | embed"),
    method: Optional[str] = typer.Option(None, help="full | lora | qlora | spectrum"),
    quant: Optional[str] = typer.Option(None, help="none | int8 | nf4 | gptq4"),
    precision: Optional[str] = typer.Option(None, help="bf16 | fp16 | fp32"),
    optimizer: Optional[str] = typer.Option(None, help="adamw | adamw_8bit | paged_adamw_8bit | paged_adamw_32bit | adafactor | sgd"),
    seq_len: Optional[int] = typer.Option(None, help="Maximum tokens per sequence."),
    batch_size: Optional[int] = typer.Option(None, help="Micro-batch size per GPU."),
    grad_accum: Optional[int] = typer.Option(None, help="Gradient accumulation steps."),
    grad_ckpt: Optional[bool] = typer.Option(None, "--grad-ckpt/--no-grad-ckpt", help="Gradient checkpointing (default on)."),
    attn: Optional[str] = typer.Option(None, help="sdpa | flash | eager"),
    packing: Optional[bool] = typer.Option(None, "--packing/--no-packing", help="Pack sequences to --seq-len."),
    lora_r: Optional[int] = typer.Option(None, help="LoRA rank."),
    lora_targets: Optional[str] = typer.Option(None, help="all-linear, or module names: q,k,v,o,gate,up,down"),
    kernels: Optional[str] = typer.Option(None, help="none | liger | unsloth"),
    gpus: Optional[int] = typer.Option(None, help="GPUs per run."),
    sharding: Optional[str] = typer.Option(None, help="none | ddp | fsdp | zero2 | zero3"),
    gpu: Optional[str] = typer.Option(None, help="Only this GPU (canonical name, e.g. H100, A100-80GB, RTX4090)."),
    examples: Optional[int] = typer.Option(None, help="Training examples."),
    avg_tokens: Optional[int] = typer.Option(None, help="Average tokens per example."),
    epochs: Optional[float] = typer.Option(None, help="Epochs."),
    inference: bool = typer.Option(False, "--inference", help="Also estimate serving memory and tokens/s."),
    context: int = typer.Option(4096, help="Context length for --inference."),
    trace: bool = typer.Option(False, "--trace", help="Trace one real training step on the meta device (needs the train extra)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    flags = {k: v for k, v in locals().items() if v is not None}
    setup, data, model_name = _inputs(flags)
    resolved = resolve_model(model_name)
    gpu_list = resolve_gpus(gpu)
    result = make_plan(resolved, setup, data, gpu_list, context if inference else None)
    payload = result.to_json()
    if trace:
        from tuneplan.cli.trace_cmd import trace_payload

        payload["trace"] = trace_payload(resolved, setup)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from tuneplan.cli.render_plan import print_plan

    print_plan(payload)


def _inputs(flags: dict) -> tuple[TrainingSetup, DataSize, str]:
    """Defaults < spec < flags, validated."""
    for name, allowed in _CHOICES.items():
        if name in flags:
            check_choice(name, flags[name], allowed)
    for name in ("seq_len", "batch_size", "grad_accum", "lora_r", "gpus", "examples", "avg_tokens", "context"):
        if name in flags and flags[name] <= 0:
            raise BadInput(f"--{name.replace('_', '-')} must be positive, got {flags[name]}")
    if "epochs" in flags and flags["epochs"] <= 0:
        raise BadInput(f"--epochs must be positive, got {flags['epochs']}")
    if "spec" in flags:
        from planner.estimate.setup import setup_from_spec
        from planner.spec import load_spec

        job = load_spec(flags["spec"])
        base, model_name = setup_from_spec(job), job.model
        spec_data = (job.data.examples, job.data.avg_tokens, job.training.epochs)
    else:
        base, model_name, spec_data = TrainingSetup(), None, (None, None, None)
    changes = {field: flags[flag] for flag, field in _SETUP_FLAGS.items() if flag in flags}
    if "lora_targets" in flags:
        changes["lora_targets"] = _targets(flags["lora_targets"])
    setup = _finish(replace(base, **changes))
    model_name = flags.get("model", model_name)
    if not model_name:
        raise BadInput("give --model (a catalog id, Hub id or config.json) or --spec job.yaml")
    return setup, _data_size(flags, spec_data), model_name


_CHOICES = {
    "task": ("sft", "dpo", "classify", "embed"), "method": ("full", "lora", "qlora", "spectrum"),
    "quant": ("none", "int8", "nf4", "gptq4"), "precision": ("bf16", "fp16", "fp32"),
    "optimizer": ("adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor", "sgd"),
    "attn": ("sdpa", "flash", "eager"), "kernels": ("none", "liger", "unsloth"),
    "sharding": ("none", "ddp", "fsdp", "zero2", "zero3"),
}


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


def _data_size(flags: dict, spec_data: tuple) -> DataSize:
    examples = flags.get("examples", spec_data[0])
    avg = flags.get("avg_tokens", spec_data[1])
    epochs = flags.get("epochs", spec_data[2])
    assumed = examples is None or avg is None
    return DataSize(
        examples=int(examples or DataSize.examples), avg_tokens=int(avg or DataSize.avg_tokens),
        epochs=float(epochs or DataSize.epochs), assumed=assumed,
    )
