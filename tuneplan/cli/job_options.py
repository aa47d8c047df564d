"""The job flags that `plan` and `recommend` share (the estimator inputs they become are built by
``tuneplan.cli.job_inputs``, which the TUI uses too): defaults < ``--spec`` file < flags.

``@with_job_options`` adds every job flag to a command's signature (typer reads the signature), and
hands the command only the flags the user gave, as ``job: dict``. Every flag defaults to None so an
explicit flag can override the same field of the spec.
"""

from __future__ import annotations

import functools
import inspect
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from tuneplan.cli.job_inputs import JobInputs, job_inputs  # noqa: F401 (the commands import both from here)

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
    ("stack", Optional[str], typer.Option(None, help="The training stack the plan is for: tuneplan (default, our "
                                          "templates) | hf-legacy | axolotl | llama-factory | unsloth | torchtune | "
                                          "litgpt")),
    ("gpus", Optional[int], typer.Option(None, help="GPUs per node.")),
    ("nodes", Optional[int], typer.Option(None, help="Machines in one distributed run (each with --gpus GPUs).")),
    ("sharding", Optional[str], typer.Option(None, help="none | ddp | fsdp | zero2 | zero3")),
    ("gpu", Optional[str], typer.Option(None, help="Only this GPU (canonical name, e.g. H100, A100-80GB, RTX4090).")),
    ("examples", Optional[int], typer.Option(None, help="Training examples.")),
    ("avg_tokens", Optional[int], typer.Option(None, help="Average tokens per example.")),
    ("epochs", Optional[float], typer.Option(None, help="Epochs.")),
)
JOB_FLAGS = tuple(name for name, _, _ in _OPTIONS)

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


