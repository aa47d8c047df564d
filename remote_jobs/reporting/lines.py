"""One report line per run: the ledger's record turned into the figures finance reads, in cents.

Why cents here: the ledger keeps micro-dollars, but a report is read like an invoice. Each run's money is
rounded to the cent once (half up), and every total anywhere in the report is a sum of these rounded
lines, so a total equals the sum of its lines to the cent in every format (table, CSV, JSON, XLSX, HTML).
The exact micro-dollar figures stay in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from providers.types import RunState
from remote_jobs.money import cost_for
from remote_jobs.records import RunRecord
from remote_jobs.reporting.period import month_label

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
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
    """One run. Money in cents (Decimal); None where the ledger does not know it yet."""

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

    @property
    def billed_delta_usd(self) -> Decimal | None:
        """What the provider billed minus the cost at the recorded rate (runs with both)."""
        if self.billed_usd is None or self.recorded_usd is None:
            return None
        return self.billed_usd - self.recorded_usd

    @property
    def delta_usd(self) -> Decimal | None:
        """Cost minus estimate, for a finished run only (an open run's partial cost says nothing yet)."""
        if self.cost_usd is None or self.estimate_usd is None or not self.record.finished:
            return None
        return self.cost_usd - self.estimate_usd

    @property
    def usd_error_pct(self) -> float | None:
        return error_pct(self.cost_usd, self.estimate_usd) if self.record.finished else None

    @property
    def hours_error_pct(self) -> float | None:
        return error_pct(self.hours, self.record.estimate_hours) if self.record.finished else None

    @property
    def wasted(self) -> bool:
        return self.record.state in WASTED_STATES


def make_line(record: RunRecord, now: datetime) -> RunLine:
    """The report's view of one run; ``now`` prices what a still-open run has committed."""
    seconds = [s for s in (record.provisioning_s, record.running_s) if s is not None]
    hours = sum(seconds) / 3600 if seconds and record.finished else None
    gpu_hours = round((hours or 0.0) * max(record.gpus or 0, 0), 6)
    rate = record.price_usd_per_hour
    idle = cents(cost_for(rate, _idle_s(record))) or ZERO
    recorded = cents(record.actual_usd)
    billed = cents(record.billed_usd)
    cost = billed if billed is not None else recorded
    wasted = record.state in WASTED_STATES
    # provisioning counted as waste: a run that bought nothing is waste whole (its cost), so its provisioning is
    # not counted twice; every money column of the lines then adds up to the report's total of that column
    provisioning = (cents(cost_for(rate, record.provisioning_s)) or ZERO) if record.finished and not wasted else ZERO
    waste = (cost or ZERO) + idle if wasted else provisioning + idle
    return RunLine(record, month_label(record.created_at) if record.created_at else "-", hours, gpu_hours,
                   cents(record.estimate_usd), recorded, billed, cost, _committed(record, now), provisioning, idle, waste)


def _idle_s(record: RunRecord) -> float | None:
    """The machine lived on after the job ended, until teardown: paid for, used by nothing."""
    if record.ended_at is None or record.torn_down_at is None:
        return None
    return max(0.0, (record.torn_down_at - record.ended_at).total_seconds())


def _committed(record: RunRecord, now: datetime) -> Decimal:
    return cents(committed_exact(record, now)) or ZERO


def committed_exact(record: RunRecord, now: datetime) -> Decimal:
    """An open run at its rate from its start to its estimated end (or to now, if it has run longer), to the
    micro-dollar (a budget check adds up runs that cost fractions of a cent)."""
    if record.finished or record.price_usd_per_hour is None:
        return ZERO
    start = record.started_at or record.created_at
    elapsed_s = max(0.0, (now - start).total_seconds()) if start else 0.0
    expected_s = (record.estimate_hours or 0.0) * 3600
    return cost_for(record.price_usd_per_hour, max(elapsed_s, expected_s)) or ZERO


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
    from remote_jobs.money import show_usd

    out = []
    for line in lines:
        record = line.record
        start = record.started_at or record.created_at
        if record.finished or start is None:
            continue
        elapsed_s = max(0.0, (now - start).total_seconds())
        expected_s = (record.estimate_hours or 0.0) * 3600
        if elapsed_s > max(OVERRUN_FACTOR * expected_s, OVERRUN_MIN_S):
            out.append(f"{record.run_id} is still {record.state.value} after {_duration(elapsed_s)} against an "
                       f"estimate of {_duration(expected_s)} ({show_usd(accrued_usd(record, now))} accrued, "
                       f"estimate {show_usd(record.estimate_usd)}): tuneplan watch or tuneplan down {record.run_id}")
    return out


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
