"""Estimate accuracy month by month, before and after the team's corrections: whether the planner is getting
better at this team's runs (or not).

Per month (the month a run finished in), over the runs that succeeded: the median |error| of the hours and of the
dollars against what the launch estimated, once against the plain estimate (``uncalibrated_hours`` and
``uncalibrated_usd`` where a correction applied, else the estimate itself) and once against the estimate the
launch used; and the median |error| of the peak memory where the template measured it. Errors are
(actual − estimate) ÷ estimate, in %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

from providers.types import RunState
from remote_jobs.reporting.lines import RunLine, error_pct


@dataclass(frozen=True)
class MonthAccuracy:
    month: str
    runs: int
    calibrated_runs: int
    hours_plain_pct: float | None
    hours_pct: float | None
    usd_plain_pct: float | None
    usd_pct: float | None
    memory_pct: float | None
    memory_runs: int


def accuracy_by_month(by_month: Mapping[str, Sequence[RunLine]], months: Sequence[str]) -> list[MonthAccuracy]:
    return [_month(label, [line for line in by_month.get(label, ()) if line.final
                           and line.record.state == RunState.SUCCEEDED]) for label in months]


def _month(label: str, lines: list[RunLine]) -> MonthAccuracy:
    hours_plain, hours, usd_plain, usd, memory = [], [], [], [], []
    for line in lines:
        r = line.record
        _add(hours_plain, error_pct(line.run_hours, r.uncalibrated_hours or r.estimate_hours))
        _add(hours, error_pct(line.run_hours, r.estimate_hours))
        _add(usd_plain, error_pct(line.run_cost_usd, r.uncalibrated_usd or r.estimate_usd))
        _add(usd, error_pct(line.run_cost_usd, r.estimate_usd))
        _add(memory, error_pct(_peak(r.metrics), r.estimate_peak_gib))
    return MonthAccuracy(label, len(lines), sum(1 for line in lines if line.record.calibration),
                         _median_abs(hours_plain), _median_abs(hours), _median_abs(usd_plain), _median_abs(usd),
                         _median_abs(memory), len(memory))


def _add(errors: list[float], value: float | None) -> None:
    if value is not None:
        errors.append(value)


def _median_abs(errors: list[float]) -> float | None:
    return round(median(abs(e) for e in errors), 1) if errors else None


def _peak(metrics: dict | None) -> float | None:
    for key in ("peak_mem_reserved_gib", "peak_mem_allocated_gib"):
        value = (metrics or {}).get(key)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return None
