"""A sweep's runs side by side: the values each point set, how it ended, what it cost and its final metrics.

Read from the ledger (each run carries the tag ``sweep: <id>`` and its point in ``overrides.sweep``), so the table
is the same right after the sweep and weeks later (``tuneplan sweep show ID``). The metrics are the ones the
templates write to ``metrics.json`` (the Trainer's own names: ``train_loss``, ``eval_loss``, ``eval_accuracy``…),
as the ledger keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from planner.errors import BadInput
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord

# Trainer bookkeeping, not quality: left out of the side-by-side columns.
NOT_METRICS = ("runtime", "per_second", "epoch", "num_tokens", "num_input_tokens", "total_flos", "step", "entropy")
MAX_METRICS = 4


@dataclass(frozen=True)
class SweepRow:
    """One point of a sweep as the table shows it (numbers as the ledger holds them; None where unknown)."""

    number: int
    values: dict[str, Any]
    run_id: str
    state: str
    hours: float | None
    cost_usd: Decimal | None
    metrics: dict[str, float]
    problem: str = ""


def row_of(number: int, values: dict[str, Any], run_id: str, record: RunRecord | None, problem: str = "") -> SweepRow:
    if record is None:
        return SweepRow(number, values, run_id, "not started", None, None, {}, problem)
    if not problem and record.state.value != "succeeded":
        problem = record.failure_reason or ""
    return SweepRow(number, values, run_id, record.state.value, _hours(record), record.cost_usd,
                    final_metrics(record.metrics), problem)


def final_metrics(metrics: dict | None) -> dict[str, float]:
    """``train_loss`` and the eval section's quality numbers of a run's recorded metrics."""
    found: dict[str, float] = {}
    for section in ("train", "eval"):
        for key, value in ((metrics or {}).get(section) or {}).items():
            if (isinstance(value, (int, float)) and not isinstance(value, bool) and key.startswith(section + "_")
                    and not any(word in key for word in NOT_METRICS)):
                found[key] = float(value)
    return found


def metric_columns(rows: list[SweepRow]) -> list[str]:
    """The metrics to show: the losses first, then the others any run reported, at most ``MAX_METRICS``."""
    names = list(dict.fromkeys(key for row in rows for key in row.metrics))
    names.sort(key=lambda key: (key not in ("train_loss", "eval_loss"), key != "train_loss", key))
    return names[:MAX_METRICS]


def best(rows: list[SweepRow]) -> int | None:
    """The point with the lowest eval loss (train loss where no run evaluated) among the succeeded runs."""
    done = [row for row in rows if row.state == "succeeded"]
    for key in ("eval_loss", "train_loss"):
        scored = [row for row in done if key in row.metrics]
        if scored:
            return min(scored, key=lambda row: row.metrics[key]).number
    return None


def rows_from_ledger(ledger: Ledger, sweep: str) -> tuple[str, list[SweepRow]]:
    """The sweep ``sweep`` names (its id, or the start of one: the latest such) and its rows in point order."""
    tagged = [r for r in ledger.runs() if (r.tags or {}).get("sweep")]
    latest: dict[str, Any] = {}  # sweep id -> when its newest run was made
    for r in tagged:
        if r.tags["sweep"].startswith(sweep):
            latest[r.tags["sweep"]] = max(latest.get(r.tags["sweep"], r.created_at), r.created_at)
    ids = sorted(latest, key=latest.get)
    if not ids:
        raise BadInput(f"no sweep {sweep!r} in the ledger (tuneplan jobs shows runs; a sweep's runs carry the tag "
                       "sweep)")
    chosen = sweep if sweep in ids else ids[-1]
    rows = []
    for record in (r for r in tagged if r.tags["sweep"] == chosen):
        point = (record.overrides or {}).get("sweep") or {}
        number = point.get("point") if isinstance(point.get("point"), int) else 0
        values = point.get("values") if isinstance(point.get("values"), dict) else {}
        rows.append(row_of(number, values, record.run_id, record))
    return chosen, sorted(rows, key=lambda row: (row.number, row.run_id))


def _hours(record: RunRecord) -> float | None:
    start, end = record.started_at, record.ended_at
    return (end - start).total_seconds() / 3600 if start and end else None
