"""The team's finished runs, read from the ledger as the planner's ``PastRun`` values, and the corrections
``planner.learning`` draws from them: what ``plan``, ``recommend`` and ``launch`` apply unless told
``--no-calibration``.

Why here: the planner stays free of I/O; this module knows the ledger's records (the estimate each launch recorded,
the template's ``metrics.json`` that finish stored, the provider's bill).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from planner.errors import BadInput
from planner.learning import Correction, PastRun, learn
from providers.types import RunState
from remote_jobs.records import RunRecord

# Runs older than this say little about today's libraries and prices.
LOOKBACK_DAYS = 180


def past_run(record: RunRecord) -> PastRun:
    """One record as the planner's measurement of it."""
    metrics = record.metrics or {}
    measured_tps = _number(metrics.get("tokens_per_s"))
    tokens = _number(metrics.get("tokens")) or record.tokens
    overhead = None
    if record.running_s is not None and measured_tps and tokens:
        overhead = max(0.0, record.running_s - tokens / measured_tps)
    seconds = [s for s in (record.provisioning_s, record.running_s) if s is not None]
    peak = _number(metrics.get("peak_mem_reserved_gib")) or _number(metrics.get("peak_mem_allocated_gib"))
    return PastRun(
        device=record.gpu or "cpu", method=record.method, task=record.task, stack=record.stack or "tuneplan",
        succeeded=record.state == RunState.SUCCEEDED, provider=record.provider,
        estimate_hours=record.uncalibrated_hours or record.estimate_hours,
        actual_hours=sum(seconds) / 3600 if seconds else None,
        estimate_tokens_per_s=record.estimate_tokens_per_s, measured_tokens_per_s=measured_tps,
        estimate_peak_gib=record.estimate_peak_gib, measured_peak_gib=peak, provisioning_s=record.provisioning_s,
        overhead_s=overhead, tokens=tokens,
        catalog_usd=float(record.actual_usd) if record.actual_usd else None,
        billed_usd=float(record.billed_usd) if record.billed_usd else None,
    )


def corrections(ledger: Any, now: datetime) -> dict[tuple[str, str, str, str], Correction]:
    """What the ledger's runs of the last ``LOOKBACK_DAYS`` teach; empty when the ledger cannot be read."""
    try:
        records = ledger.runs(since=now - timedelta(days=LOOKBACK_DAYS))
    except BadInput:
        return {}
    return learn(past_run(r) for r in records if r.finished and r.task != "smoke")  # a smoke job trains nothing


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None
