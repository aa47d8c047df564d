"""Sweeps: one spec, several runs that differ in a few values (learning rate × LoRA rank).

``sweep: {training.learning_rate: [1e-4, 2e-4], lora.r: [8, 16]}`` in the spec (or ``launch --sweep
lora.r=8,16``) is the grid of every combination, as W&B's grid sweeps and axolotl's sweep files are. Each point
is the whole spec again with its values set, validated as any spec is, so a point that would be refused alone
is refused before anything is priced or started. Points are named ``<name>-s<i>`` so their runs tell apart in
``jobs``, and carry the tag ``sweep: <sweep id>`` so ``report --by tag:sweep`` totals them.

Pure: no files, no clock; the launcher (``remote_jobs.sweep``) prices and starts the points.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from planner.errors import BadInput
from planner.validation import leaf_problem

MAX_POINTS = 64  # a sweep bigger than this is a search, not a grid a person reads side by side
MAX_VALUES = 32
NOT_SWEPT = ("name", "project", "owner", "sweep", "tags", "secrets")  # who and what the runs are, not how they train


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: its number (from 1), the values it sets and its complete spec."""

    number: int
    values: dict[str, Any]
    spec: Any  # planner.spec.JobSpec

    @property
    def label(self) -> str:
        """``learning_rate=0.0001 r=8``: the last part of each key, enough to tell the points apart."""
        return label(self.values)


def label(values: dict[str, Any]) -> str:
    return " ".join(f"{_short_key(key, values)}={_text(value)}" for key, value in values.items())


def check_shape(sweep: dict[str, list], model) -> dict[str, list]:
    """The spec's ``sweep`` section as written: keys naming one value of the spec, each with 1-32 values, at
    most ``MAX_POINTS`` combinations. Raised as ValueError, which the spec's error line reports."""
    for key, values in sweep.items():
        if key.split(".")[0] in NOT_SWEPT:
            raise ValueError(f"'{key}' cannot be swept (it says who the runs are, not how they train)")
        problem = leaf_problem(model, key)
        if problem:
            raise ValueError(problem)
        if not values:
            raise ValueError(f"'{key}' has no values")
        if len(values) > MAX_VALUES:
            raise ValueError(f"'{key}' has {len(values)} values; at most {MAX_VALUES}")
        if len({json.dumps(v) for v in values}) != len(values):
            raise ValueError(f"'{key}' lists a value twice")
    count = size(sweep)
    if count > MAX_POINTS:
        raise ValueError(f"{count} combinations; a sweep runs at most {MAX_POINTS}")
    return sweep


def size(sweep: dict[str, list]) -> int:
    count = 1
    for values in sweep.values():
        count *= len(values)
    return count


def parse_flags(flags: list[str]) -> dict[str, list]:
    """``--sweep lora.r=8,16`` flags as a sweep section (each value read as JSON where it parses: 8 is a number,
    bf16 a word)."""
    sweep: dict[str, list] = {}
    for flag in flags:
        key, sep, text = flag.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise BadInput(f"--sweep needs KEY=V1,V2,…, got {flag!r}")
        sweep[key.strip()] = [_value(part.strip()) for part in text.split(",") if part.strip()]
    return sweep


def points(spec, sweep_id: str | None = None) -> list[SweepPoint]:
    """Every combination of the spec's sweep, each as a validated spec; [] when the spec has no sweep.
    ``sweep_id`` (default: the spec's name) is the ``sweep`` tag every point's run carries."""
    from planner.spec import deep_merge, spec_from_dict

    if not spec.sweep:
        return []
    base = spec.model_dump(mode="json", exclude={"sweep"})
    keys = list(spec.sweep)
    result = []
    for number, combo in enumerate(itertools.product(*(spec.sweep[k] for k in keys)), start=1):
        values = dict(zip(keys, combo, strict=True))
        changes: dict = {"name": f"{spec.name[:36]}-s{number}", "tags": {**spec.tags, "sweep": sweep_id or spec.name}}
        for key, value in values.items():
            changes = deep_merge(changes, _nested(key, value))
        raw = deep_merge(base, changes)
        try:
            result.append(SweepPoint(number, values, spec_from_dict(raw, source=f"sweep point {number}")))
        except BadInput as exc:
            raise BadInput(f"{exc} ({label(values)})") from None
    return result


def _nested(key: str, value: Any) -> dict:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _short_key(key: str, values: dict[str, Any]) -> str:
    last = key.rsplit(".", 1)[-1]
    clashes = sum(1 for other in values if other.rsplit(".", 1)[-1] == last)
    return key if clashes > 1 else last


def _text(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else json.dumps(value) if value is None or isinstance(
        value, bool) else str(value)
