"""Report lines: a run's part of each calendar month of the report's period, in the figures finance reads.

Why per month: spend lands in the period in which the machine was used (``allocate``), so a run that crosses a
month boundary has a line in each month, and a month's total is the sum of its lines. Why a hundredth of a cent:
see ``allocate``. Every total anywhere in the report is a plain sum of these lines, never a figure recomputed
from the ledger's micro-dollars, so a total equals the sum of its lines in every format, each of which prints money
to the same hundredth of a cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from providers.types import RunState
from remote_jobs.money import cost_for
from remote_jobs.records import RunRecord
from remote_jobs.reporting.allocate import UNIT, ZERO, Allocation, to_unit
from remote_jobs.reporting.period import add_months, first_of_month, month_label

CENT = Decimal("0.01")
__all__ = ["UNIT", "ZERO", "CENT", "RunLine", "cents", "error_pct", "lines_for", "to_unit"]
# Runs whose whole cost bought nothing usable.
WASTED_STATES = frozenset({RunState.FAILED, RunState.CANCELLED, RunState.BUDGET_STOPPED})


def cents(amount: Decimal | None) -> Decimal | None:
    return None if amount is None else Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def error_pct(actual: float | Decimal | None, expected: float | Decimal | None) -> float | None:
    """(actual − expected) / expected in %, one decimal; None when either is missing or expected is 0."""
    if actual is None or expected is None or not expected:
        return None
    return round((float(actual) - float(expected)) / float(expected) * 100, 1)


@dataclass(frozen=True)
class RunLine:
    """One run's part of one calendar month inside the report's period (a run that used a machine in October and
    November has a line in each). Money in ``UNIT``s (a hundredth of a cent); None where the ledger does not know
    it yet. The estimate, the tokens and the estimate comparison sit on the line of the month the run ended in
    (``final``), compared with the whole run's cost and hours."""

    record: RunRecord
    month: str
    hours: float | None
    gpu_hours: float
    estimate_usd: Decimal | None
    recorded_usd: Decimal | None
    billed_usd: Decimal | None
    cost_usd: Decimal | None
    committed_usd: Decimal
    provisioning_usd: Decimal
    idle_usd: Decimal
    waste_usd: Decimal
    final: bool = True
    run_cost_usd: Decimal | None = None
    run_hours: float | None = None

    @property
    def billed_delta_usd(self) -> Decimal | None:
        """What the provider billed minus rate × the machine's whole life (job time and idle time)."""
        if self.billed_usd is None or self.recorded_usd is None:
            return None
        return self.billed_usd - self.recorded_usd - self.idle_usd

    @property
    def delta_usd(self) -> Decimal | None:
        """The run's cost minus its estimate, on the line of the month it finished in (an open run's partial cost
        says nothing yet)."""
        if self.run_cost_usd is None or self.estimate_usd is None or not self.record.finished:
            return None
        return self.run_cost_usd - self.estimate_usd

    @property
    def estimate_hours(self) -> float | None:
        return self.record.estimate_hours if self.final else None

    @property
    def tokens(self) -> int | None:
        return self.record.tokens if self.final else None

    @property
    def usd_error_pct(self) -> float | None:
        return error_pct(self.run_cost_usd, self.estimate_usd) if self.record.finished else None

    @property
    def hours_error_pct(self) -> float | None:
        return error_pct(self.run_hours, self.estimate_hours) if self.record.finished else None

    @property
    def wasted(self) -> bool:
        return self.record.state in WASTED_STATES


def lines_for(allocation: Allocation, start: datetime, end: datetime) -> list[RunLine]:
    """The run's lines in [start, end): one per calendar month the run touches there."""
    out, tz = [], allocation.tz
    month = first_of_month(start, tz)
    while month < end:
        following = add_months(month, 1, tz)
        window = (max(start, month), min(end, following))
        if allocation.touches(*window):
            out.append(_line(allocation, month_label(month, tz), *window))
        month = following
    return out


def _line(allocation: Allocation, month: str, start: datetime, end: datetime) -> RunLine:
    record = allocation.record
    share = allocation.share(start, end)
    final = start <= allocation.last_day < end
    wasted = record.state in WASTED_STATES
    # a run that bought nothing is waste whole (its cost, idle time included); otherwise its provisioning and
    # idle time are: each amount is counted once, so every money column adds up to the report's total of it
    waste = (share.cost or ZERO) if wasted else share.provisioning + share.idle
    provisioning = ZERO if wasted else share.provisioning
    return RunLine(record, month, share.hours, round((share.hours or 0.0) * max(record.gpus or 0, 0), 6),
                   to_unit(record.estimate_usd) if final else None, share.recorded, share.billed, share.cost,
                   share.committed, provisioning, share.idle, waste, final, allocation.run_cost, allocation.run_hours)


# An open run is flagged once it has run this many times its estimate (and at least OVERRUN_MIN_S): a machine
# provisioning for 20 h against a half-hour estimate is money leaking, whatever the report's period.
OVERRUN_FACTOR = 2.0
OVERRUN_MIN_S = 900.0


def accrued_usd(record: RunRecord, now: datetime) -> Decimal:
    """What an open run has cost so far at its recorded rate (start, else creation, to now)."""
    start = record.started_at or record.created_at
    if record.finished or start is None or record.price_usd_per_hour is None:
        return ZERO
    return cost_for(record.price_usd_per_hour, max(0.0, (now - start).total_seconds())) or ZERO


def overrun_alerts(lines: list[RunLine], now: datetime) -> list[str]:
    """One line per open run far past its estimated time, with what it has accrued."""
    from remote_jobs.reporting.text import usd as show_usd

    out, seen = [], set()
    for line in lines:
        record = line.record
        start = record.started_at or record.created_at
        if record.finished or start is None or record.run_id in seen:
            continue
        seen.add(record.run_id)
        elapsed_s = max(0.0, (now - start).total_seconds())
        expected_s = (record.estimate_hours or 0.0) * 3600
        if elapsed_s > max(OVERRUN_FACTOR * expected_s, OVERRUN_MIN_S):
            out.append(f"{record.run_id} is still {record.state.value} after {_duration(elapsed_s)} against an "
                       f"estimate of {_duration(expected_s)} ({show_usd(accrued_usd(record, now))} accrued, "
                       f"estimate {show_usd(record.estimate_usd)}): tuneplan watch or tuneplan down {record.run_id}")
    return out


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
