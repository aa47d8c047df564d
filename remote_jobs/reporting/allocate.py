"""Where a run spent its money in time: each money figure of a run spread over the UTC days in which it was used,
to a hundredth of a cent, so a report of any month, quarter or range of days holds exactly the part of a run that
fell inside it.

Why: a 60-hour run created on 31 October at 20:00 used four hours of machine in October and 56 in November.
Cloud bills and FOCUS files charge time where it was used; a month cannot be closed on figures that put all of
it in the month the run was created.

Why a hundredth of a cent (``UNIT``): a local CPU run costs $0.0024, and 200 of them are $0.48, not $0.00. Lines
keep that precision and every total adds the lines; money is rounded to the cent only where a person reads it
(the table, HTML and PDF formats), never before adding.

Days are UTC days unless a report names another zone (``--tz``): then they are that zone's days, and its
months are made of them. Each figure has its own stretch of the machine's life (start = the launch, else the creation):
- recorded (rate × the job's provisioning and running time): start → the job's end;
- idle (rate × the time from the job's end to the teardown): end → teardown. A billed machine's idle time is cost;
- billed (the provider's bill, which covers the machine until its teardown): start → teardown;
- cost: the bill where there is one (it already holds the idle time, so idle is counted once), else
  recorded + idle;
- provisioning (rate × the provisioning time): the first seconds of the life;
- committed (an open run: rate × the longer of its elapsed and its estimated time): start → its expected end.
Each figure is rounded once to ``UNIT`` and then split over the days by seconds, by largest remainder, so a run's
days add up to the run exactly, and any periods that tile the time add up to the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from remote_jobs.money import cost_for
from remote_jobs.records import RunRecord

UNIT = Decimal("0.0001")
ZERO = Decimal("0.0000")
MONEY_FIGURES = ("recorded", "billed", "cost", "idle", "provisioning", "committed")


def to_unit(amount: Decimal | None, unit: Decimal = UNIT) -> Decimal | None:
    """``amount`` to a hundredth of a cent (or ``unit``), half up (None stays None)."""
    return None if amount is None else Decimal(amount).quantize(unit, rounding=ROUND_HALF_UP)


def day_pieces(start: datetime, end: datetime, tz: tzinfo = timezone.utc) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the midnights of ``tz`` (one piece for an instant), each piece's ends in UTC: Python
    subtracts two times of the same zone by their wall clocks, and a day that leaves summer time has 25 hours."""
    utc = timezone.utc
    start, end = start.astimezone(tz), max(end, start).astimezone(tz)
    pieces, cursor = [], start
    while True:
        midnight = datetime(cursor.year, cursor.month, cursor.day, tzinfo=tz) + timedelta(days=1)
        if end.astimezone(utc) <= midnight.astimezone(utc):
            pieces.append((cursor.astimezone(utc), end.astimezone(utc)))
            return pieces
        pieces.append((cursor.astimezone(utc), midnight.astimezone(utc)))
        cursor = midnight


def split_units(total: Decimal, weights: list[float], unit: Decimal = UNIT) -> list[Decimal]:
    """``total`` in shares proportional to ``weights``, each a whole number of ``unit``, adding up to ``total``
    exactly (largest remainder; ties go to the earlier share). Negative totals split like positive ones."""
    count = int((total / unit).to_integral_value(rounding=ROUND_HALF_UP))
    sign, count = (-1, -count) if count < 0 else (1, count)
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights, weight_sum = [1.0] * len(weights), float(len(weights))
    exact = [Decimal(count) * Decimal(repr(w)) / Decimal(repr(weight_sum)) for w in weights]
    floors = [int(e.to_integral_value(rounding=ROUND_DOWN)) for e in exact]
    order = sorted(range(len(exact)), key=lambda i: (exact[i] - floors[i], -i), reverse=True)
    for i in order[:count - sum(floors)]:
        floors[i] += 1
    return [Decimal(sign * n) * unit for n in floors]


def spread(amount: Decimal | None, start: datetime, end: datetime, tz: tzinfo = timezone.utc,
           unit: Decimal = UNIT) -> dict[datetime, Decimal]:
    """``amount`` over [start, end), by day: {the day's first instant: share}; empty for no amount."""
    if amount is None:
        return {}
    pieces = day_pieces(start, end, tz)
    shares = split_units(to_unit(amount, unit), [(b - a).total_seconds() for a, b in pieces], unit)
    return {_day_of(a, tz): share for (a, _), share in zip(pieces, shares, strict=True)}


def _day_of(moment: datetime, tz: tzinfo) -> datetime:
    local = moment.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz)


@dataclass(frozen=True)
class Share:
    """One run's figures inside one window of time. Money in ``UNIT``s; None where the run has no such figure."""

    recorded: Decimal | None
    billed: Decimal | None
    cost: Decimal | None
    idle: Decimal
    provisioning: Decimal
    committed: Decimal
    hours: float | None


@dataclass
class Allocation:
    """One run's figures by day (``by_day[figure][day] = amount``), and the day its story ends (or today, for an
    open run): the day whose window holds the run's estimate, tokens and estimate comparison."""

    record: RunRecord
    by_day: dict[str, dict[datetime, Decimal]]
    hours_by_day: dict[datetime, float]
    last_day: datetime
    run_cost: Decimal | None
    run_hours: float | None
    days: list[datetime] = field(default_factory=list)
    tz: tzinfo = timezone.utc
    """The zone whose midnights cut the days (UTC unless the report asks for another)."""

    def touches(self, start: datetime, end: datetime) -> bool:
        """Whether the run has anything in [start, end): a figure, its creation, or its end."""
        created = self.record.created_at
        return (any(start <= day < end for day in self.days) or start <= self.last_day < end
                or (created is not None and start <= created < end))

    def share(self, start: datetime, end: datetime) -> Share:
        """The sum of the run's days that begin in [start, end)."""
        def total(figure: str) -> Decimal | None:
            days = self.by_day.get(figure)
            if days is None:
                return None
            return sum((amount for day, amount in days.items() if start <= day < end), ZERO)

        hours = (None if self.run_hours is None
                 else round(sum(h for day, h in self.hours_by_day.items() if start <= day < end), 6))
        return Share(total("recorded"), total("billed"), total("cost"), total("idle") or ZERO,
                     total("provisioning") or ZERO, total("committed") or ZERO, hours)


def allocate(record: RunRecord, now: datetime, tz: tzinfo = timezone.utc, unit: Decimal = UNIT) -> Allocation:
    """``record``'s figures spread over days (see the module's docstring); ``now`` ends an open run's stretch.
    ``unit``: the precision (a budget check counts micro-dollars, so a local run's fraction of a cent counts)."""
    start = record.started_at or record.created_at or now
    rate = record.price_usd_per_hour
    job_end = record.ended_at or now
    life_end = record.torn_down_at or job_end
    idle_s = max(0.0, (life_end - job_end).total_seconds()) if record.finished else 0.0
    recorded = to_unit(record.actual_usd, unit)
    idle = to_unit(cost_for(rate, idle_s), unit) if record.finished else None
    billed = to_unit(record.billed_usd, unit)
    by_day: dict[str, dict[datetime, Decimal]] = {}
    if recorded is not None:
        by_day["recorded"] = spread(recorded, start, job_end, tz, unit)
    if billed is not None:
        by_day["billed"] = spread(billed, start, life_end, tz, unit)
    if idle is not None:
        by_day["idle"] = spread(idle, job_end, life_end, tz, unit)
    if billed is not None:
        by_day["cost"] = by_day["billed"]
    elif recorded is not None:
        by_day["cost"] = _add(by_day["recorded"], by_day.get("idle", {}))
    if record.finished and record.provisioning_s:
        provisioning = cost_for(rate, record.provisioning_s)
        by_day["provisioning"] = spread(provisioning, start, start + timedelta(seconds=record.provisioning_s), tz, unit)
    committed = _committed_span(record, now)
    if committed is not None:
        by_day["committed"] = spread(committed[0], start, committed[1], tz, unit)
    run_hours = _run_hours(record)
    hours_by_day = {}
    if run_hours is not None:
        pieces = day_pieces(start, job_end, tz)
        hours_by_day = dict(zip((_day_of(a, tz) for a, _ in pieces),
                                _split_float(run_hours, [(b - a).total_seconds() for a, b in pieces]), strict=True))
    days = sorted({day for figure in by_day.values() for day in figure} | set(hours_by_day))
    cost = by_day.get("cost")
    return Allocation(record, by_day, hours_by_day, _day_of(life_end, tz),
                      None if cost is None else sum(cost.values(), ZERO), run_hours, days, tz)


def _add(first: dict[datetime, Decimal], second: dict[datetime, Decimal]) -> dict[datetime, Decimal]:
    return {day: first.get(day, ZERO) + second.get(day, ZERO) for day in sorted(set(first) | set(second))}


def _split_float(total: float, weights: list[float]) -> list[float]:
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [total / len(weights)] * len(weights)
    return [total * w / weight_sum for w in weights]


def _run_hours(record: RunRecord) -> float | None:
    """Provisioning + running hours of a finished run (what the rate was paid for before the job ended)."""
    seconds = [s for s in (record.provisioning_s, record.running_s) if s is not None]
    return sum(seconds) / 3600 if seconds and record.finished else None


def _committed_span(record: RunRecord, now: datetime) -> tuple[Decimal, datetime] | None:
    """(what an open run commits, when that stretch ends)."""
    if record.finished or record.price_usd_per_hour is None:
        return None
    start = record.started_at or record.created_at or now
    elapsed_s = max(0.0, (now - start).total_seconds())
    seconds = max(elapsed_s, (record.estimate_hours or 0.0) * 3600)
    return cost_for(record.price_usd_per_hour, seconds) or ZERO, start + timedelta(seconds=seconds)
