"""The JobSpec: one YAML file that drives the estimate and the run (CONTRACTS §2).

What a user writes is validated strictly (``extra="forbid"``, positive sizes, known names with a
"did you mean" for typos). The same model is built from CLI flags, so `plan`, `recommend` and `launch`
agree on every field.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, field_validator

from planner.errors import BadInput
from planner.validation import first_problem

Task = Literal["sft", "dpo", "classify", "embed", "smoke"]
Method = Literal["full", "lora", "qlora", "spectrum"]
Quant = Literal["none", "int8", "nf4", "gptq4"]
Precision = Literal["bf16", "fp16", "fp32"]
Optimizer = Literal["adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor", "sgd"]
Attention = Literal["sdpa", "flash", "eager"]
Kernels = Literal["none", "liger", "unsloth"]
Sharding = Literal["none", "ddp", "fsdp", "zero2", "zero3"]
ProviderName = Literal["auto", "local", "skypilot", "modal", "runpod"]
DataFormat = Literal["chat", "prompt-completion", "text", "preference", "text-label", "pairs", "triplets"]


def _default_owner() -> str:
    try:
        return getpass.getuser()
    except Exception:  # getuser raises various errors in containers without a passwd entry
        return "unknown"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSettings(_Strict):
    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    targets: str | list[str] = "all-linear"

    def target_tuple(self) -> tuple[str, ...] | None:
        """None for PEFT's 'all-linear', else the module names."""
        if isinstance(self.targets, str):
            if self.targets.strip().lower() in ("all-linear", "all_linear", "all"):
                return None
            return tuple(t.strip() for t in self.targets.split(",") if t.strip())
        return tuple(self.targets)


class SpectrumSettings(_Strict):
    top_fraction: float = Field(0.25, gt=0.0, le=1.0)


class DataSettings(_Strict):
    train: str | None = None
    eval: str | None = None
    format: DataFormat | None = None  # None: the task's natural format (chat, preference, text-label, pairs)
    examples: PositiveInt | None = None
    avg_tokens: PositiveInt | None = None


class TrainingSettings(_Strict):
    epochs: PositiveFloat = 1
    seq_len: PositiveInt = 2048
    micro_batch_size: PositiveInt = 1
    grad_accum: PositiveInt = 1
    learning_rate: PositiveFloat = 2.0e-4
    grad_ckpt: bool = True
    attn: Attention = "sdpa"
    optimizer: Optimizer = "adamw"
    precision: Precision = "bf16"
    packing: bool = False
    kernels: Kernels = "none"
    max_steps: PositiveInt | None = None
    logging_steps: PositiveInt | None = None
    save_steps: PositiveInt | None = None
    eval_steps: PositiveInt | None = None
    warmup_ratio: float | None = Field(None, ge=0.0, lt=1.0)
    seed: int | None = None


class ResourceSettings(_Strict):
    provider: ProviderName = "auto"
    gpu: str | list[str] = "auto"
    gpus: PositiveInt = 1
    sharding: Sharding = "none"
    spot: bool = False
    max_usd_per_hour: PositiveFloat | None = None
    max_total_usd: PositiveFloat | None = None
    deadline_hours: PositiveFloat | None = None


class OutputSettings(_Strict):
    merge_adapter: bool = False
    push_to_hub: str | None = None


class SmokeSettings(_Strict):
    """Knobs of the smoke template (``task: smoke``), which checks a provider for cents: how long each step
    lasts and at which step it fails on purpose. The number of steps is ``training.max_steps``."""

    step_seconds: float = Field(0.0, ge=0.0, le=3600.0)
    fail_at: PositiveInt | None = None


class JobSpec(_Strict):
    """A fine-tuning job: what to train, on what data, with which settings, where, for how much."""

    name: str = "job"
    project: str = "default"
    owner: str = Field(default_factory=_default_owner)
    task: Task = "sft"
    model: str
    method: Method = "lora"
    quantization: Quant = "none"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    spectrum: SpectrumSettings = Field(default_factory=SpectrumSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    secrets: list[str] = Field(default_factory=list)
    outputs: OutputSettings = Field(default_factory=OutputSettings)
    smoke: SmokeSettings = Field(default_factory=SmokeSettings)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9-]{1,40}", value):
            raise ValueError("must be 1-40 characters of a-z, 0-9 and '-' (run ids are derived from it)")
        return value

    @property
    def effective_quantization(self) -> str:
        """QLoRA implies NF4 unless the user chose GPTQ."""
        if self.method == "qlora" and self.quantization == "none":
            return "nf4"
        return self.quantization


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> JobSpec:
    """Read a JobSpec YAML file; errors name the file, the key path and a suggestion for typos."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected a mapping of job settings at the top level")
    return spec_from_dict(deep_merge(raw, overrides or {}), source=str(path))


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, nested dicts merged key by key."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def spec_from_dict(raw: dict[str, Any], source: str = "job spec") -> JobSpec:
    """Validate a dict as a JobSpec, turning pydantic's report into one clear line."""
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as exc:
        raise BadInput(f"{source}: {first_problem(exc, JobSpec)}") from None
