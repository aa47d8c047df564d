"""Where the money is going: month-to-date, a forecast to the month's end, the change on the month before, spend
per day, the cost of each successful run, and the runs that wasted most.

Why here and not in a spreadsheet: the forecast needs what only the ledger knows (what open runs have committed
to their estimated end), and the day figures must be the report's own allocation so they add up to its total.

Forecast to the month's end = spent so far + what open runs have committed within the month + the run rate of
the days elapsed (spent so far ÷ days elapsed) × the days left. Only the month that holds the report's clock has
one; a closed month is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from providers.types import RunState
from remote_jobs.reporting.allocate import UNIT, ZERO, Allocation
from remote_jobs.reporting.lines import RunLine
from remote_jobs.reporting.period import Period, add_months, first_of_month
from remote_jobs.reporting.totals import Totals

TOP_WASTE = 5


@dataclass(frozen=True)
class Forecast:
    spent_usd: Decimal
    committed_usd: Decimal
    days_elapsed: Decimal
    days_left: Decimal
    usd_per_day: Decimal
    month_end_usd: Decimal


@dataclass(frozen=True)
class Waste:
    run_id: str
    project: str
    state: str
    waste_usd: Decimal
    why: str


@dataclass(frozen=True)
class Outlook:
    forecast: Forecast | None
    """Only for the month that holds the report's clock."""
    previous_label: str
    previous_usd: Decimal
    change_usd: Decimal
    change_pct: float | None
    """The period's cost against the month (or same-length period) before it."""
    daily: list[tuple[str, Decimal]]
    """Cost per UTC day of the period (days with spend), oldest first: adds up to the report's cost."""
    usd_per_successful_run: Decimal | None
    """All the period's cost over the runs that succeeded in it: what one useful run really costs."""
    top_waste: list[Waste]


def outlook(period: Period, lines: list[RunLine], allocations: list[Allocation], total: Totals,
            previous: tuple[str, Decimal], now: datetime) -> Outlook:
    succeeded = {line.record.run_id for line in lines if line.final and line.record.state == RunState.SUCCEEDED}
    label, before = previous
    change = total.cost_usd - before
    return Outlook(
        forecast=_forecast(period, total, now),
        previous_label=label, previous_usd=before, change_usd=change,
        change_pct=round(float(change / before * 100), 1) if before else None,
        daily=_daily(period, allocations),
        usd_per_successful_run=(total.cost_usd / len(succeeded)).quantize(UNIT, ROUND_HALF_UP) if succeeded else None,
        top_waste=_top_waste(lines),
    )


def _forecast(period: Period, total: Totals, now: datetime) -> Forecast | None:
    month_start = first_of_month(now, period.tz)
    if not (period.start == month_start and period.end >= add_months(month_start, 1, period.tz)) or not period.contains(now):
        return None
    month_end = add_months(month_start, 1, period.tz)
    day = Decimal(86400)
    elapsed = Decimal(repr((now - month_start).total_seconds())) / day
    left = Decimal(repr((month_end - now).total_seconds())) / day
    per_day = (total.cost_usd / elapsed).quantize(UNIT, ROUND_HALF_UP) if elapsed else ZERO
    end = (total.cost_usd + total.committed_usd + per_day * left).quantize(UNIT, ROUND_HALF_UP)
    return Forecast(total.cost_usd, total.committed_usd, elapsed.quantize(Decimal("0.01")),
                    left.quantize(Decimal("0.01")), per_day, end)


def _daily(period: Period, allocations: list[Allocation]) -> list[tuple[str, Decimal]]:
    by_day: dict[datetime, Decimal] = {}
    for allocation in allocations:
        for day, amount in allocation.by_day.get("cost", {}).items():
            if period.start <= day < period.end:
                by_day[day] = by_day.get(day, ZERO) + amount
    return [(day.astimezone(period.tz).date().isoformat(), amount) for day, amount in sorted(by_day.items())]


def _top_waste(lines: list[RunLine]) -> list[Waste]:
    by_run: dict[str, list[RunLine]] = {}
    for line in lines:
        by_run.setdefault(line.record.run_id, []).append(line)
    ranked = sorted(by_run.values(), key=lambda group: sum((g.waste_usd for g in group), ZERO), reverse=True)
    out = []
    for group in ranked[:TOP_WASTE]:
        waste = sum((g.waste_usd for g in group), ZERO)
        if not waste:
            break
        r = group[0].record
        out.append(Waste(r.run_id, r.project, r.state.value, waste, _why(group)))
    return out


def _why(group: list[RunLine]) -> str:
    r = group[0].record
    if group[0].wasted:
        return f"{r.state.value}: {r.failure_reason}" if r.failure_reason else r.state.value
    idle = sum((g.idle_usd for g in group), ZERO)
    provisioning = sum((g.provisioning_usd for g in group), ZERO)
    if r.ended_at and r.torn_down_at and idle >= provisioning:
        return f"idle {_minutes(r.torn_down_at - r.ended_at)} before teardown"
    return f"provisioning {_minutes(timedelta(seconds=r.provisioning_s or 0))}"


def _minutes(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
