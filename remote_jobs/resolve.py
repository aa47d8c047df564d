"""A JobSpec made concrete for one launch: which local files travel with it, and what job.json says.

Local paths in a spec (``data.train``, ``data.eval``, ``grpo.reward_file``, a model directory) are relative to the
spec file,
as the templates read theirs relative to job.json. A ``tiny:`` model is generated here first. Everything
local becomes a file in the bundle, and job.json refers to it by its place in the bundle; Hub ids and
``hub:`` data stay names that the remote machine downloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from planner.spec import JobSpec
from remote_jobs.tiny_models import is_tiny, tiny_model_path

OUTPUT_DIR = "out"


@dataclass(frozen=True)
class LocalInput:
    """A local file or directory that goes into the bundle, and where."""

    role: str
    source: Path
    bundle_path: str

    @property
    def bytes(self) -> int:
        if self.source.is_dir():
            return sum(p.stat().st_size for p in self.source.rglob("*") if p.is_file())
        return self.source.stat().st_size


@dataclass(frozen=True)
class ResolvedJob:
    """The spec, where it came from, the model as the planner resolves it, and the files that travel."""

    spec: JobSpec
    spec_path: Path | None
    model_source: str
    inputs: tuple[LocalInput, ...]

    @property
    def data_inputs(self) -> tuple[LocalInput, ...]:
        return tuple(i for i in self.inputs if i.role in ("train", "eval"))

    @property
    def local_data(self) -> bool:
        """All data is local (so the template's own check can run here before anything is paid for)."""
        return bool(self.data_inputs) and not any(
            str(getattr(self.spec.data, role) or "").startswith("hub:") for role in ("train", "eval"))

    def job_json(self) -> dict[str, Any]:
        """The resolved JobSpec as the template reads it (CONTRACTS §6): paths relative to the bundle."""
        # tags are finance's (the ledger and the report), not the training's: the template never sees them
        # grpo's section is read by the grpo template only
        leave_out = {"smoke", "tags", "sweep"} | ({"grpo"} if self.spec.task != "grpo" else set())
        job = _without_none(self.spec.model_dump(mode="json", exclude=leave_out))
        by_role = {i.role: i.bundle_path for i in self.inputs}
        if "model" in by_role:
            job["model"] = by_role["model"]
        for role in ("train", "eval"):
            if role in by_role:
                job["data"][role] = by_role[role]
        if "rewards" in by_role:
            job["grpo"]["reward_file"] = by_role["rewards"]
        job["output_dir"] = OUTPUT_DIR
        if self.spec.task != "smoke":
            job["base_model"] = self.model_source  # what the pulled adapter names as its base (a Hub id or a local folder)
        return job

    def template_args(self) -> tuple[str, ...]:
        """Flags beyond ``--config job.json``: the smoke template's knobs."""
        if self.spec.task != "smoke":
            return ("--config", "job.json")
        args = ["--config", "job.json", "--step-seconds", repr(self.spec.smoke.step_seconds)]
        if self.spec.smoke.fail_at is not None:
            args += ["--fail-at", str(self.spec.smoke.fail_at)]
        return tuple(args)


def resolve_job(spec: JobSpec, spec_path: Path | None) -> ResolvedJob:
    """Find every local input of ``spec`` (relative paths from the spec's folder) and name its bundle path."""
    base = spec_path.resolve().parent if spec_path is not None else Path.cwd()
    where = str(spec_path) if spec_path is not None else "job"
    inputs: list[LocalInput] = []
    model_source = spec.model
    if spec.task != "smoke":
        model_dir = _model_dir(spec.model, base)
        if model_dir is not None:
            model_source = str(model_dir)
            inputs.append(LocalInput("model", model_dir, "model"))
    names: set[str] = set()
    for role in ("train", "eval"):
        value = getattr(spec.data, role)
        if not value or value.startswith("hub:"):
            continue
        path = _local_file(value, base, f"{where}: data.{role}")
        same = next((i for i in inputs if i.role in ("train", "eval") and i.source == path), None)
        name = same.bundle_path if same else _unique(f"data/{path.name}", names, role)
        names.add(name)
        inputs.append(LocalInput(role, path, name))
    if spec.task == "grpo" and spec.grpo.reward_file:  # the job's own reward functions travel with it
        path = _local_file(spec.grpo.reward_file, base, f"{where}: grpo.reward_file")
        if path.suffix != ".py":
            raise BadInput(f"{where}: grpo.reward_file must be a Python file (.py), got {path.name}")
        inputs.append(LocalInput("rewards", path, f"rewards/{path.name}"))
    if spec.task not in ("smoke",) and not spec.data.train:
        raise BadInput(f"{where}: data.train is required for a {spec.task} job")
    return ResolvedJob(spec, spec_path, model_source, tuple(inputs))


def _model_dir(model: str, base: Path) -> Path | None:
    """A local model directory (tiny:, relative to the spec, or absolute), else None for a Hub id."""
    if is_tiny(model):
        return tiny_model_path(model)
    candidate = Path(model).expanduser()
    candidate = candidate if candidate.is_absolute() else base / candidate
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise BadInput(f"model {model}: no config.json in {candidate}")
        return candidate.resolve()
    return None


def _local_file(value: str, base: Path, what: str) -> Path:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise BadInput(f"{what}: no such file {path} (local paths are relative to the spec file)")
    return path.resolve()


def _unique(name: str, taken: set[str], role: str) -> str:
    if name not in taken:
        return name
    folder, _, file = name.rpartition("/")
    return f"{folder}/{role}-{file}"


def _without_none(data: Any) -> Any:
    """Leave unset keys out, so the template's own defaults apply rather than a None it would refuse."""
    if isinstance(data, dict):
        return {k: _without_none(v) for k, v in data.items() if v is not None}
    return data
