"""The report as one JSON object: every figure of the model, money as decimal strings (never floats)."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from remote_jobs.clock import iso
from remote_jobs.reporting.lines import RunLine
from remote_jobs.reporting.model import Report
from remote_jobs.reporting.to_csv import COLUMNS, cell_text
from remote_jobs.reporting.totals import Group, Totals


def plain(value: Any) -> Any:
    """Dataclasses, Decimals and datetimes as JSON-ready values."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Totals):
        data = {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        return {**data, "finished": value.finished, "usd_error_pct": value.usd_error_pct}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def run_json(line: RunLine) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (kind, get) in COLUMNS.items():
        value = get(line)
        out[name] = None if value is None else cell_text(kind, value) if kind in ("usd", "rate", "time") else value
    return out


def group_json(dimensions: tuple[str, ...], group: Group) -> dict[str, Any]:
    return {"key": dict(zip(dimensions, group.key, strict=True)), "label": group.label, **plain(group.totals)}


def to_json(report: Report) -> dict[str, Any]:
    p = report.period
    return {
        "title": report.title, "currency": "USD", "money_precision": "0.0001",
        "time_zone": report.period.zone,
        "period": {"label": p.label, "start": iso(p.start), "end": iso(p.end)},
        "month": p.label if re.fullmatch(r"\d{4}-\d{2}", p.label) else None,
        "generated_at": iso(report.generated_at), "by": list(report.group_by),
        "filters": plain(report.filters), "notes": report.notes, "warnings": report.warnings,
        "total": plain(report.total),
        "groups": [group_json(report.group_by, g) for g in report.groups],
        "breakdowns": {name: [group_json((name,), g) for g in groups] for name, groups in report.breakdowns.items()},
        "units": plain(report.units), "accuracy": plain(report.accuracy),
        "trend": [{"month": m.month, **plain(m.totals)} for m in report.trend],
        "budgets": plain(report.budgets), "revision": plain(report.revision),
        "outlook": plain(report.outlook), "accuracy_by_month": plain(report.accuracy_trend),
        "rent_vs_buy": {"window": report.payback_window, "cards": plain(report.paybacks)},
        "runs": [run_json(line) for line in report.lines],
    }
