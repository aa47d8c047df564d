"""The report as CSV: one row per run, every column, for finance's own spreadsheets.

Money columns hold the report's amounts as plain decimals to a hundredth of a cent (``12.3400``), so a SUM over a
column equals the report's total; the rate keeps the ledger's precision. A run that used a machine in two months
has a row per month (the ``month`` column). Times are ISO 8601 in UTC. A text cell that a spreadsheet would run as a
formula (starting with = + - @) is prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from providers.plain_text import plain
from remote_jobs.clock import iso
from remote_jobs.reporting.lines import RunLine

Getter = Callable[[RunLine], Any]
# column name -> (kind, getter). Kinds: text, int, float, usd (cents), rate (USD/hour), pct, time.
COLUMNS: dict[str, tuple[str, Getter]] = {
    "run_id": ("text", lambda x: x.record.run_id), "name": ("text", lambda x: x.record.name),
    "project": ("text", lambda x: x.record.project), "owner": ("text", lambda x: x.record.owner),
    "host": ("text", lambda x: x.record.host), "task": ("text", lambda x: x.record.task),
    "method": ("text", lambda x: x.record.method), "model": ("text", lambda x: x.record.model),
    "provider": ("text", lambda x: x.record.provider), "cloud": ("text", lambda x: x.record.cloud),
    "region": ("text", lambda x: x.record.region), "gpu": ("text", lambda x: x.record.gpu),
    "gpus": ("int", lambda x: x.record.gpus), "spot": ("text", lambda x: "yes" if x.record.spot else "no"),
    "state": ("text", lambda x: x.record.state.value), "month": ("text", lambda x: x.month),
    "created_at": ("time", lambda x: x.record.created_at), "started_at": ("time", lambda x: x.record.started_at),
    "ended_at": ("time", lambda x: x.record.ended_at), "torn_down_at": ("time", lambda x: x.record.torn_down_at),
    "provisioning_s": ("float", lambda x: x.record.provisioning_s), "running_s": ("float", lambda x: x.record.running_s),
    "hours": ("float", lambda x: None if x.hours is None else round(x.hours, 6)),
    "gpu_hours": ("float", lambda x: x.gpu_hours), "tokens": ("int", lambda x: x.tokens),
    "price_usd_per_hour": ("rate", lambda x: x.record.price_usd_per_hour),
    "price_source": ("text", lambda x: x.record.price_source), "price_as_of": ("text", lambda x: x.record.price_as_of),
    "estimate_hours": ("float", lambda x: x.estimate_hours), "estimate_usd": ("usd", lambda x: x.estimate_usd),
    "recorded_usd": ("usd", lambda x: x.recorded_usd), "billed_usd": ("usd", lambda x: x.billed_usd),
    "billed_delta_usd": ("usd", lambda x: x.billed_delta_usd), "cost_usd": ("usd", lambda x: x.cost_usd),
    "delta_usd": ("usd", lambda x: x.delta_usd), "usd_error_pct": ("pct", lambda x: x.usd_error_pct),
    "hours_error_pct": ("pct", lambda x: x.hours_error_pct), "committed_usd": ("usd", lambda x: x.committed_usd),
    "provisioning_usd": ("usd", lambda x: x.provisioning_usd), "idle_usd": ("usd", lambda x: x.idle_usd),
    "waste_usd": ("usd", lambda x: x.waste_usd), "estimate_peak_gib": ("float", lambda x: x.record.estimate_peak_gib),
    "max_total_usd": ("usd", lambda x: x.record.max_total_usd), "failure_reason": ("text", lambda x: x.record.failure_reason),
    "artifacts": ("text", lambda x: "; ".join(f"{a.get('path')} sha256:{a.get('sha256')}" for a in x.record.artifacts)),
    "spec_path": ("text", lambda x: x.record.spec_path), "bundle_sha256": ("text", lambda x: x.record.bundle_sha256),
    "resource_id": ("text", lambda x: x.record.handle.resource_id if x.record.handle else None),
    "uncalibrated_hours": ("float", lambda x: x.record.uncalibrated_hours if x.final else None),
    "uncalibrated_usd": ("usd", lambda x: x.record.uncalibrated_usd if x.final else None),
    "estimate_tokens_per_s": ("float", lambda x: x.record.estimate_tokens_per_s),
    "measured_tokens_per_s": ("float", lambda x: (x.record.metrics or {}).get("tokens_per_s")),
    "measured_peak_gib": ("float", lambda x: (x.record.metrics or {}).get("peak_mem_reserved_gib")),
    "billed_at": ("time", lambda x: x.record.billed_at),
    "bill_final": ("text", lambda x: None if x.record.bill_final is None else "yes" if x.record.bill_final else "no"),
    "tags": ("text", lambda x: json.dumps(x.record.tags, sort_keys=True) if x.record.tags else None),
}
FORMULA_STARTS = ("=", "+", "-", "@")


def cell_text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "time":
        return iso(value) or ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    text = plain(value) if kind == "text" else str(value)  # no escape sequences or control characters
    return "'" + text if kind == "text" and text.startswith(FORMULA_STARTS) else text


def to_csv(report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in report.lines:
        writer.writerow([cell_text(kind, get(line)) for kind, get in COLUMNS.values()])
    return out.getvalue()
