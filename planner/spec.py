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
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from planner.errors import BadInput
from planner.spec_base import BIG, LIMITS, MAX_SPEC_BYTES, _amount, _count, _Strict
from planner.spec_grpo import GrpoSettings
from planner.validation import all_problems

Task = Literal["sft", "dpo", "classify", "embed", "ner", "reward", "rerank", "grpo", "smoke"]
Method = Literal["full", "lora", "qlora", "spectrum"]
Quant = Literal["none", "int8", "nf4", "gptq4"]
Precision = Literal["bf16", "bf16-mixed", "fp16", "fp32"]
Optimizer = Literal["adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor", "sgd"]
Attention = Literal["sdpa", "flash", "eager"]
Stack = Literal["tuneplan", "hf-legacy", "axolotl", "llama-factory", "unsloth", "torchtune", "litgpt"]
Kernels = Literal["none", "liger", "unsloth"]
Sharding = Literal["none", "ddp", "fsdp", "zero2", "zero3"]
ProviderName = Literal["auto", "local", "skypilot", "modal", "runpod"]
DataFormat = Literal["chat", "prompt-completion", "text", "preference", "text-label", "pairs", "triplets",
                     "tokens-tags", "query-passage", "prompt-answer"]

TEMPLATE_ONLY_KEYS = ("output_dir", "base_model", "distributed")  # what a bundle's job.json adds to the spec for its template
SweepValue = str | int | float | bool | None  # a sweep sets one value per field; sections are not swept
IMAGE_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/-]{0,199}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?")
SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


TAG_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _label(value: str, what: str, most: int = 64) -> str:
    """A name people type (project, owner): printable text, 1 to ``most`` characters."""
    if not value or len(value) > most:
        raise ValueError(f"must be 1-{most} characters")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValueError(f"{what} holds a control character")
    return value


def _default_owner() -> str:
    try:
        return getpass.getuser()
    except Exception:  # getuser raises various errors in containers without a passwd entry
        return "unknown"


class LoraSettings(_Strict):
    r: int = Field(16, gt=0, le=LIMITS["lora_r"])
    alpha: int = Field(32, gt=0, le=1_000_000)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    targets: str | list[str] = Field("all-linear", max_length=1000)

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
    train: str | None = Field(None, max_length=4096)
    eval: str | None = Field(None, max_length=4096)
    format: DataFormat | None = None  # None: the task's natural format (chat, preference, text-label, pairs)
    examples: int | None = _count(LIMITS["examples"])
    avg_tokens: int | None = _count(LIMITS["avg_tokens"])


class TrainingSettings(_Strict):
    epochs: float = Field(1, gt=0, le=LIMITS["epochs"], allow_inf_nan=False)
    seq_len: int = Field(2048, gt=0, le=LIMITS["seq_len"])
    micro_batch_size: int = Field(1, gt=0, le=LIMITS["micro_batch_size"])
    grad_accum: int = Field(1, gt=0, le=LIMITS["grad_accum"])
    learning_rate: float = Field(2.0e-4, gt=0, le=100, allow_inf_nan=False)
    grad_ckpt: bool = True
    attn: Attention = "sdpa"
    optimizer: Optimizer = "adamw"
    precision: Precision = "bf16"
    packing: bool = False
    kernels: Kernels = "none"
    stack: Stack = "tuneplan"
    max_steps: int | None = _count(BIG)
    logging_steps: int | None = _count(BIG)
    save_steps: int | None = _count(BIG)
    eval_steps: int | None = _count(BIG)
    warmup_ratio: float | None = Field(None, ge=0.0, lt=1.0)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class ResourceSettings(_Strict):
    provider: ProviderName = "auto"
    gpu: str | list[str] = Field("auto", max_length=64)
    gpus: int = Field(1, gt=0, le=LIMITS["gpus"])
    """GPUs per node."""
    nodes: int = Field(1, gt=0, le=LIMITS["nodes"])
    """Machines, each with ``gpus`` GPUs, in one torch.distributed run."""
    sharding: Sharding = "none"
    """How the processes split the work: ddp (a full copy each), fsdp (FSDP2), zero2 / zero3 (DeepSpeed)."""
    cpu_processes: int | None = Field(None, gt=0, le=LIMITS["cpu_processes"])
    """Local provider without GPUs: run the job as this many CPU processes over gloo, a rehearsal of a
    distributed run before renting one."""

    @field_validator("image")
    @classmethod
    def _image_reference(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE_REFERENCE.fullmatch(value.removeprefix("docker:")):
            raise ValueError("not a container image reference (registry/name:tag or name@sha256:digest)")
        return value

    @model_validator(mode="after")
    def _sharding_for_several(self) -> "ResourceSettings":
        processes = self.nodes * (self.cpu_processes or self.gpus)
        if processes > 1 and self.sharding == "none":
            raise ValueError(f"{processes} processes need resources.sharding: ddp (a full copy each), fsdp "
                             "(weights sharded), zero2 or zero3")
        return self
    spot: bool = False
    image: str | None = Field(None, max_length=256)
    """A prebuilt container image with the training stack installed (``ghcr.io/acme/train:2026-11``): rented
    machines start from it and install nothing (SkyPilot ``image_id: docker:…``, Modal ``from_registry``, RunPod
    ``imageName``). Default: each launcher's own image, with the template's pinned packages installed at launch."""
    max_usd_per_hour: float | None = _amount(1_000_000)
    max_total_usd: float | None = _amount(100_000_000)
    deadline_hours: float | None = _amount(24 * 366 * 10)


class OutputSettings(_Strict):
    merge_adapter: bool = False
    push_to_hub: str | None = Field(None, max_length=200)


class SmokeSettings(_Strict):
    """Knobs of the smoke template (``task: smoke``), which checks a provider for cents: how long each step
    lasts and at which step it fails on purpose. The number of steps is ``training.max_steps``."""

    step_seconds: float = Field(0.0, ge=0.0, le=3600.0)
    fail_at: int | None = _count(BIG)


class TrackingSettings(_Strict):
    """Experiment tracking through the Trainer's own integrations (``report_to``)."""

    backend: Literal["none", "wandb", "mlflow"] = "none"
    project: str | None = Field(None, max_length=128)
    """The W&B project, or the MLflow experiment (default: the job's name)."""
    run_name: str | None = Field(None, max_length=128)
    uri: str | None = Field(None, max_length=1024)
    """MLflow's tracking server (default: a SQLite store in the run's outputs, brought home with them). Credentials
    travel as named secrets (MLFLOW_TRACKING_TOKEN, WANDB_API_KEY in ``secrets``), never in this URI."""

    @field_validator("project", "run_name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return None if value is None else _label(value, "the tracking name", 128)

    @field_validator("uri")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value and re.match(r"^[a-z+]+://[^/@]*:[^/@]*@", value):
            raise ValueError("a tracking URI never holds a password: put it in a secret (MLFLOW_TRACKING_PASSWORD)")
        return value


class JobSpec(_Strict):
    """A fine-tuning job: what to train, on what data, with which settings, where, for how much."""

    _import_notes: tuple[str, ...] = PrivateAttr(default=())
    """Set when the file was another tool's config (``planner.importers``): what was read and left aside."""

    name: str = "job"
    project: str = "default"
    owner: str = Field(default_factory=_default_owner)
    task: Task = "sft"
    model: str = Field(max_length=1024)
    method: Method = "lora"
    quantization: Quant = "none"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    spectrum: SpectrumSettings = Field(default_factory=SpectrumSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    secrets: list[str] = Field(default_factory=list, max_length=100)
    outputs: OutputSettings = Field(default_factory=OutputSettings)
    smoke: SmokeSettings = Field(default_factory=SmokeSettings)
    grpo: GrpoSettings = Field(default_factory=GrpoSettings)
    """What a ``task: grpo`` run generates and how it scores the answers; other tasks ignore it."""
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    """Where the run's metrics are logged as it trains (W&B, MLflow), beside tuneplan's own metrics.json."""
    sweep: dict[str, list[SweepValue]] = Field(default_factory=dict, max_length=8)
    """Several runs from this one spec: ``{training.learning_rate: [1e-4, 2e-4], lora.r: [8, 16]}`` is the grid of
    every combination (``planner.sweep``); each run is this spec with those values set."""
    tags: dict[str, str] = Field(default_factory=dict, max_length=20)
    """Finance's groupings beyond project and owner (``cost_center: ml-research``): kept on the run in the ledger,
    usable in ``report --by tag:cost_center``, written in the FOCUS export's Tags."""

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9-]{1,40}", value):
            raise ValueError("must be 1-40 characters of a-z, 0-9 and '-' (run ids are derived from it)")
        return value

    @field_validator("project")
    @classmethod
    def _project_shape(cls, value: str) -> str:
        return _label(value, "the project name")

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, value: str) -> str:
        return _label(value, "the owner name")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_shape(cls, tags: object) -> object:
        """Keys a label can carry; values as text (``cost_center: 1234`` is the text '1234')."""
        if not isinstance(tags, dict):
            return tags
        for key, value in tags.items():
            key = str(key)
            if not TAG_KEY.fullmatch(key):
                raise ValueError(f"tag {key[:40]!r}: a key is 1-40 characters of a-z, 0-9 and _, starting with a letter")
            if isinstance(value, (dict, list)) or value is None:
                raise ValueError(f"tag {key}: the value must be a word or a number")
            _label(str(value), f"the tag {key}")
        return {str(key): str(value) for key, value in tags.items()}

    @field_validator("sweep")
    @classmethod
    def _sweep_shape(cls, sweep: dict[str, list]) -> dict[str, list]:
        from planner.sweep import check_shape

        return check_shape(sweep, cls)

    @field_validator("model")
    @classmethod
    def _model_shape(cls, value: str) -> str:
        return _label(value, "the model name", 1024)

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, names: list[str]) -> list[str]:
        """Secrets travel by name into environments and command lines: only environment-variable names."""
        for name in names:
            if not SECRET_NAME.fullmatch(name):
                raise ValueError(f"{name[:40]!r} is not an environment variable name (letters, digits and _, "
                                 "not starting with a digit)")
        return names

    @property
    def effective_quantization(self) -> str:
        """QLoRA implies NF4 unless the user chose GPTQ."""
        if self.method == "qlora" and self.quantization == "none":
            return "nf4"
        return self.quantization


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> JobSpec:
    """Read a JobSpec YAML file; errors name the file, the key path and a suggestion for typos.

    A run's recorded ``job.json`` (in its bundle, beside ``bundle.json``) loads too, as it is: the keys only
    the template reads are set aside, and its paths are relative to the bundle, as in the run."""
    path = Path(path)
    raw = _parse_yaml(path, _read_text(path))
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected a mapping of job settings at the top level")
    if path.name == "job.json" and (path.parent / "bundle.json").is_file():
        raw = {key: value for key, value in raw.items() if key not in TEMPLATE_ONLY_KEYS}
    from planner.importers import foreign_format, import_config, import_note

    tool, notes = foreign_format(raw), ()
    if tool is not None:  # an axolotl / LLaMA-Factory / TRL config: read the keys that matter, say the rest
        raw, ignored = import_config(raw, tool)
        notes = (import_note(tool, raw, ignored),)
    spec = spec_from_dict(deep_merge(raw, overrides or {}), source=str(path))
    spec._import_notes = notes
    return spec


def _read_text(path: Path) -> str:
    """The spec file's text: a readable file of at most ``MAX_SPEC_BYTES`` of UTF-8, else one line saying why."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: a folder, not a job spec file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_SPEC_BYTES:
        raise BadInput(f"{path}: larger than {MAX_SPEC_BYTES // 1024} KiB; a job spec is a short YAML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not a text file (not UTF-8); a job spec is a YAML file") from None
    if "\x00" in text:
        raise BadInput(f"{path}: not a text file (it holds NUL bytes); a job spec is a YAML file")
    return text


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML ({one_line(str(exc).splitlines()[0])})") from None
    except RecursionError:
        raise BadInput(f"{path}: nested too deeply to be a job spec") from None


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    """Validate a dict as a JobSpec, turning pydantic's report into one clear line with every problem in it."""
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as exc:
        raise BadInput(f"{source}: {all_problems(exc, JobSpec)}") from None
