"""What changed in a closed period since its report was first produced: the late bills that moved it.

Why: bills arrive late (RunPod settles hourly buckets after the pod is gone; Modal's report lags), so a month that
finance closed can change under it. The ledger keeps every bill figure with when it arrived and whether it was
final (``bill_events``), and the first time a closed period's report is produced its total is written down
(``report_firsts``). Every later report of that period compares against it and lists the bills that arrived
since, so a changed figure is never silent.

A period is closed once it ends before the current month began. The first production is recorded only by a
ledger that can be written (a finance role that may only read sees the comparison, and records nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from planner.errors import BadInput
from remote_jobs.clock import iso, parse_iso
from remote_jobs.money import from_micros, to_micros
from remote_jobs.reporting.text import usd as show_usd
from remote_jobs.reporting.period import Period, first_of_month

MOST_LISTED = 10


@dataclass(frozen=True)
class LateBill:
    run_id: str
    arrived_at: datetime
    before_usd: Decimal | None
    """The run's previous bill figure (None: there was none, the report used rate × time)."""
    billed_usd: Decimal | None
    final: bool


@dataclass(frozen=True)
class Revision:
    """A closed period's first report against now."""

    first_produced_at: datetime
    first_cost_usd: Decimal
    first_runs: int
    cost_usd: Decimal
    late_bills: list[LateBill]

    @property
    def changed_usd(self) -> Decimal:
        return self.cost_usd - self.first_cost_usd

    def message(self, label: str) -> str:
        when = self.first_produced_at.strftime("%Y-%m-%d %H:%M UTC")
        if not self.changed_usd and not self.late_bills:
            return f"{label} is unchanged since its report was first produced on {when} ({show_usd(self.first_cost_usd)})"
        sign = "+" if self.changed_usd >= 0 else "−"
        head = (f"{label} changed since its report was first produced on {when}: {show_usd(self.first_cost_usd)} then, "
                f"{show_usd(self.cost_usd)} now ({sign}{show_usd(abs(self.changed_usd))})")
        if not self.late_bills:
            return head
        shown = "; ".join(f"{b.run_id} {show_usd(b.before_usd) if b.before_usd is not None else 'rate × time'} → "
                          f"{show_usd(b.billed_usd)} ({'final' if b.final else 'provisional'}, "
                          f"{b.arrived_at:%Y-%m-%d})" for b in self.late_bills[:MOST_LISTED])
        more = f"; and {len(self.late_bills) - MOST_LISTED} more" if len(self.late_bills) > MOST_LISTED else ""
        return f"{head}, {len(self.late_bills)} late bill(s): {shown}{more}"


def closed(period: Period, now: datetime) -> bool:
    return period.end <= first_of_month(now, period.tz)


def revision(source: Any, period: Period, cost_usd: Decimal, runs: int, run_ids: list[str],
             now: datetime) -> Revision | None:
    """For a closed period of a ledger: its first report (recorded now if there was none, then None is returned)
    against ``cost_usd`` (the period's unfiltered total now), with the bills that arrived since."""
    if not hasattr(source, "query") or not closed(period, now):
        return None
    try:
        rows = source.query("SELECT produced_at, cost_micro_usd, runs FROM report_firsts WHERE period = ?",
                            (period.key,))
    except BadInput:  # a ledger of an older schema that this role cannot upgrade
        return None
    if not rows:
        _record_first(source, period, cost_usd, runs, now)
        return None
    first_at = parse_iso(rows[0]["produced_at"]) or now
    try:
        history = source.bill_events(run_ids)
    except BadInput:
        history = []
    return Revision(first_at, from_micros(rows[0]["cost_micro_usd"]) or Decimal(0), int(rows[0]["runs"]), cost_usd,
                    _late(history, first_at))


def _late(history: list[dict[str, Any]], since: datetime) -> list[LateBill]:
    """The bill figures that arrived after ``since``, each with the figure it replaced."""
    previous: dict[str, Decimal | None] = {}
    out = []
    for row in history:
        at = parse_iso(row["at"])
        billed = from_micros(row["billed_micro_usd"])
        if at is not None and at > since:
            out.append(LateBill(str(row["run_id"]), at, previous.get(row["run_id"]), billed, bool(row["final"])))
        previous[row["run_id"]] = billed
    return out


def _record_first(source: Any, period: Period, cost_usd: Decimal, runs: int, now: datetime) -> None:
    """Write the period's first report down; a ledger this user may only read keeps none (and says nothing)."""
    def insert(conn: Any) -> None:
        conn.execute("INSERT INTO report_firsts (period, produced_at, cost_micro_usd, runs) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (period) DO NOTHING", (period.key, iso(now), to_micros(cost_usd), runs))

    try:
        source.transact(insert)
    except BadInput:
        pass
