"""One run as the ledger stores it: ``RunRecord`` in code, one row of ``runs`` on disk.

The mapping is a table (``FIELDS``): each field's column and how it is stored. Money is integer
micro-dollars in columns named ``*_micro_usd*``; times are ISO 8601 UTC text; artifacts and the handle
are JSON. Reading is lenient (a stored record from an older or newer tuneplan, or a hand-edited one,
loads with ``None`` where a value is missing or unreadable); writing is exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from providers.types import RunHandle, RunState
from remote_jobs.clock import iso, parse_iso
from remote_jobs.money import from_micros, to_micros


@dataclass
class RunRecord:
    """Every figure finance needs about one run (CONTRACTS §7), plus what recovery needs (the handle)."""

    run_id: str
    name: str = ""
    project: str = "default"
    owner: str = ""
    host: str = ""
    task: str = ""
    method: str = ""
    model: str = ""
    provider: str = ""
    cloud: str = ""
    region: str = ""
    gpu: str = ""
    gpus: int | None = None
    spot: bool = False
    price_usd_per_hour: Decimal | None = None
    price_source: str = ""
    price_as_of: str = ""
    state: RunState = RunState.PENDING
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    torn_down_at: datetime | None = None
    provisioning_s: float | None = None
    running_s: float | None = None
    tokens: int | None = None
    estimate_hours: float | None = None
    estimate_usd: Decimal | None = None
    estimate_peak_gib: float | None = None
    max_total_usd: Decimal | None = None
    max_runtime_s: int | None = None
    actual_usd: Decimal | None = None
    billed_usd: Decimal | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    failure_reason: str | None = None
    handle: RunHandle | None = None
    spec_path: str = ""
    runs_dir: str = ""
    bundle_sha256: str = ""
    updated_at: datetime | None = None
    resumed_from: str = ""
    tuneplan_version: str = ""
    overrides: dict[str, Any] | None = None
    versions: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    push: dict[str, Any] | None = None
    billed_at: datetime | None = None
    """When the bill figure in ``billed_usd`` arrived."""
    bill_final: bool | None = None
    """Whether that figure is final (read once the provider's billing had settled) or may still change."""
    stack: str = ""
    """The training stack the run was planned for (``training.stack``)."""
    estimate_tokens_per_s: float | None = None
    uncalibrated_hours: float | None = None
    """What the launch estimate said before the team's past runs corrected it (None: no correction applied)."""
    uncalibrated_usd: Decimal | None = None
    calibration: dict[str, Any] | None = None
    """The correction the launch applied (``planner.learning``), as JSON."""
    tracking_url: str | None = None
    """Where the run's experiment tracking lives (``mlflow: …``, ``wandb: …``)."""
    tags: dict[str, Any] | None = None
    """The spec's ``tags`` (cost_center: ml-research): finance's groupings beyond project and owner."""

    @property
    def finished(self) -> bool:
        """The story is over (teardown aside): a final state was recorded."""
        return self.ended_at is not None

    @property
    def cost_usd(self) -> Decimal | None:
        """What the run cost: the provider's bill where there is one, else rate × duration."""
        return self.billed_usd if self.billed_usd is not None else self.actual_usd

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: money as decimal strings, times as ISO text, the state as its name."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, datetime):
                value = iso(value)
            elif isinstance(value, RunState):
                value = value.value
            elif isinstance(value, RunHandle):
                value = json.loads(value.to_json())
            out[f.name] = value
        return out


# field name -> (column name, kind)
FIELDS: dict[str, tuple[str, str]] = {
    "run_id": ("run_id", "text"), "name": ("name", "text"), "project": ("project", "text"),
    "owner": ("owner", "text"), "host": ("host", "text"), "task": ("task", "text"), "method": ("method", "text"),
    "model": ("model", "text"), "provider": ("provider", "text"), "cloud": ("cloud", "text"),
    "region": ("region", "text"), "gpu": ("gpu", "text"), "gpus": ("gpus", "int"), "spot": ("spot", "bool"),
    "price_usd_per_hour": ("price_micro_usd_per_hour", "money"), "price_source": ("price_source", "text"),
    "price_as_of": ("price_as_of", "text"), "state": ("state", "state"), "created_at": ("created_at", "time"),
    "started_at": ("started_at", "time"), "ended_at": ("ended_at", "time"),
    "torn_down_at": ("torn_down_at", "time"), "provisioning_s": ("provisioning_s", "float"),
    "running_s": ("running_s", "float"), "tokens": ("tokens", "int"), "estimate_hours": ("estimate_hours", "float"),
    "estimate_usd": ("estimate_micro_usd", "money"), "estimate_peak_gib": ("estimate_peak_gib", "float"),
    "max_total_usd": ("max_total_micro_usd", "money"), "max_runtime_s": ("max_runtime_s", "int"),
    "actual_usd": ("actual_micro_usd", "money"), "billed_usd": ("billed_micro_usd", "money"),
    "artifacts": ("artifacts", "json_list"), "failure_reason": ("failure_reason", "text"),
    "handle": ("handle", "handle"), "spec_path": ("spec_path", "text"), "runs_dir": ("runs_dir", "text"),
    "bundle_sha256": ("bundle_sha256", "text"), "updated_at": ("updated_at", "time"),
    "resumed_from": ("resumed_from", "text"), "tuneplan_version": ("tuneplan_version", "text"),
    "overrides": ("overrides", "json_dict"), "versions": ("versions", "json_dict"), "metrics": ("metrics", "json_dict"),
    "push": ("push", "json_dict"), "tags": ("tags", "json_dict"),
    "billed_at": ("billed_at", "time"), "bill_final": ("bill_final", "bool"), "stack": ("stack", "text"),
    "estimate_tokens_per_s": ("estimate_tokens_per_s", "float"), "uncalibrated_hours": ("uncalibrated_hours", "float"),
    "uncalibrated_usd": ("uncalibrated_micro_usd", "money"), "calibration": ("calibration", "json_dict"),
    "tracking_url": ("tracking_url", "text"),
}


def to_column(name: str, value: Any) -> tuple[str, Any]:
    """(column, stored value) for one field."""
    column, kind = FIELDS[name]
    if value is None:
        return column, None
    return column, _WRITERS[kind](value)


def from_row(row: dict[str, Any]) -> RunRecord:
    """A record from a row, leniently: unknown columns are ignored, bad values read as None/empty."""
    values: dict[str, Any] = {}
    for name, (column, kind) in FIELDS.items():
        if column in row:
            parsed = _read(kind, row[column])
            if parsed is not None:
                values[name] = parsed
    values.setdefault("run_id", str(row.get("run_id") or "?"))
    return RunRecord(**values)


def _read(kind: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        return _READERS[kind](value)
    except (TypeError, ValueError):
        return None


def _json_dict(text: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _json_list(text: Any) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


# Built once: a report reads every field of thousands of rows.
_WRITERS = {
    "money": lambda v: to_micros(Decimal(v)), "time": iso, "state": lambda v: RunState(v).value,
    "bool": lambda v: int(bool(v)), "json_list": lambda v: json.dumps(list(v)),
    "json_dict": lambda v: json.dumps(dict(v), default=str),
    "handle": lambda v: v.to_json(), "int": int, "float": float, "text": str,
}
_READERS = {
    "money": from_micros, "time": parse_iso, "state": RunState.parse, "bool": bool,
    "json_list": _json_list, "json_dict": _json_dict, "handle": RunHandle.from_json, "int": int, "float": float, "text": str,
}
