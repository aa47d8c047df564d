"""The cost report finance reads: per-run lines and totals for a month, grouped by project, owner,
provider or GPU, with estimate against actual for every run. It reads only the ledger.

A run's cost is the provider's bill where there is one, else rate × duration (``RunRecord.cost_usd``).
Months are calendar months in UTC, by the run's creation time. Output formats here are the machine ones
(CSV, JSON); the table is drawn by the CLI.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from planner.errors import BadInput
from remote_jobs.records import RunRecord

GROUPS = ("project", "owner", "provider", "gpu")
CSV_COLUMNS = ("run_id", "name", "project", "owner", "provider", "cloud", "gpu", "gpus", "state", "created_at",
               "hours", "price_usd_per_hour", "price_source", "estimate_usd", "actual_usd", "billed_usd", "cost_usd",
               "delta_usd", "failure_reason")


@dataclass(frozen=True)
class Line:
    """One run: what was expected, what it cost, and the difference."""

    record: RunRecord
    hours: float | None
    cost_usd: Decimal | None
    delta_usd: Decimal | None


@dataclass(frozen=True)
class Total:
    key: str
    runs: int
    hours: float
    estimate_usd: Decimal
    cost_usd: Decimal
    unfinished: int


@dataclass(frozen=True)
class Report:
    month: str | None
    by: str | None
    lines: list[Line]
    groups: list[Total]
    total: Total


def month_range(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of ``YYYY-MM`` in UTC."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadInput(f"--month must look like 2026-11, got {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    start = datetime(year, mon, 1, tzinfo=timezone.utc)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def build_report(records: list[RunRecord], month: str | None, by: str | None) -> Report:
    if by is not None and by not in GROUPS:
        from planner.suggest import did_you_mean

        raise BadInput(f"--by must be one of {', '.join(GROUPS)}, got {by!r}{did_you_mean(by, GROUPS)}")
    lines = [_line(r) for r in sorted(records, key=lambda r: (r.created_at is None, r.created_at))]
    groups = []
    if by is not None:
        keys = sorted({getattr(line.record, by) or "-" for line in lines})
        groups = [_total(k, [line for line in lines if (getattr(line.record, by) or "-") == k]) for k in keys]
    return Report(month, by, lines, groups, _total("total", lines))


def _line(record: RunRecord) -> Line:
    seconds = [s for s in (record.provisioning_s, record.running_s) if s is not None]
    cost = record.cost_usd
    delta = cost - record.estimate_usd if cost is not None and record.estimate_usd is not None else None
    return Line(record, sum(seconds) / 3600 if seconds else None, cost, delta)


def _total(key: str, lines: list[Line]) -> Total:
    return Total(key, len(lines), round(sum(line.hours or 0.0 for line in lines), 6),
                 sum((line.record.estimate_usd or Decimal(0) for line in lines), Decimal(0)),
                 sum((line.cost_usd or Decimal(0) for line in lines), Decimal(0)),
                 sum(1 for line in lines if not line.record.finished))


def to_rows(report: Report) -> list[dict[str, object]]:
    """One flat dict per run (the CSV columns), money as decimal strings."""
    rows = []
    for line in report.lines:
        r = line.record
        values = {"run_id": r.run_id, "name": r.name, "project": r.project, "owner": r.owner,
                  "provider": r.provider, "cloud": r.cloud, "gpu": r.gpu, "gpus": r.gpus, "state": r.state.value,
                  "created_at": r.created_at.isoformat() if r.created_at else None,
                  "hours": round(line.hours, 6) if line.hours is not None else None,
                  "price_usd_per_hour": r.price_usd_per_hour, "price_source": r.price_source,
                  "estimate_usd": r.estimate_usd, "actual_usd": r.actual_usd, "billed_usd": r.billed_usd,
                  "cost_usd": line.cost_usd, "delta_usd": line.delta_usd, "failure_reason": r.failure_reason}
        rows.append({k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()})
    return rows


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in to_rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def to_json(report: Report) -> dict[str, object]:
    return {"month": report.month, "by": report.by, "runs": to_rows(report),
            "groups": [_total_json(t) for t in report.groups], "total": _total_json(report.total)}


def _total_json(total: Total) -> dict[str, object]:
    return {"key": total.key, "runs": total.runs, "hours": total.hours, "estimate_usd": str(total.estimate_usd),
            "cost_usd": str(total.cost_usd), "unfinished": total.unfinished}
