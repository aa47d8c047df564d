"""The one report model: ``build_report`` turns ledger runs into a ``Report`` that every front end and every
output format reads (CLI table, CSV, JSON, XLSX, HTML/PDF, and the TUI's Report screen).

Why one model: finance compares the numbers across formats, so they must come from the same lines and the
same sums. It reads only the ledger (or records handed to it), the settings' budgets, and a clock; it
never reads today's date itself, never prints, and imports no UI toolkit or spreadsheet library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from planner.errors import BadInput
from planner.suggest import did_you_mean
from providers.types import RunState
from remote_jobs.records import RunRecord
from remote_jobs.reporting import history
from remote_jobs.reporting.budgets import DEFAULT_WARN_PCT, BudgetLine, budget_lines
from remote_jobs.reporting.text import usd as usd_text
from remote_jobs.reporting.allocate import Allocation, allocate
from remote_jobs.reporting.lines import ZERO, RunLine, lines_for, overrun_alerts
from remote_jobs.reporting.accuracy_trend import MonthAccuracy, accuracy_by_month
from remote_jobs.reporting.forecast import Outlook, outlook
from remote_jobs.reporting.revisions import Revision, revision
from remote_jobs.reporting.period import Period, add_months, first_of_month, month_label, month_period, parse_period, trend_months
from remote_jobs.reporting.totals import Group, Totals, add_up, check_dimensions, group_lines
from remote_jobs.reporting.units import Accuracy, Units, accuracy, unit_costs

BREAKDOWNS = ("project", "owner", "provider", "gpu")
TREND_MONTHS = 12


@dataclass(frozen=True)
class Filters:
    """Keep only runs whose field is one of the given values (an empty tuple keeps everything)."""

    project: tuple[str, ...] = ()
    owner: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    gpu: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = [s.value for s in RunState]
        for state in self.state:
            if state not in known:
                raise BadInput(f"--state must be one of {', '.join(known)}, got {state!r}{did_you_mean(state, known)}")

    def keep(self, record: RunRecord) -> bool:
        checks = ((self.project, record.project), (self.owner, record.owner), (self.provider, record.provider),
                  (self.state, record.state.value), (self.gpu, record.gpu))
        return all(not wanted or value in wanted for wanted, value in checks)

    @property
    def active(self) -> bool:
        return any(self.__dict__.values())

    def describe(self) -> str:
        parts = [f"{name} {', '.join(values)}" for name, values in self.__dict__.items() if values]
        return "; ".join(parts)


@dataclass(frozen=True)
class ReportOptions:
    """What the report needs from the settings and the price catalog (see ``options_from_settings``)."""

    budgets: Mapping[str, Decimal] = field(default_factory=dict)
    warn_pct: Decimal = DEFAULT_WARN_PCT
    kwh_usd: Decimal = Decimal("0.30")
    payback_gpus: tuple[str, ...] = history.DEFAULT_GPUS
    price_rows: list | None = None  # None: the bundled snapshot with any refreshed prices over it
    rent_vs_buy: bool = True
    trend_months: int = TREND_MONTHS


def options_from_settings(settings: Any) -> ReportOptions:
    """``providers.settings.Settings`` → ``ReportOptions`` (budgets, warning share, electricity price)."""
    budgets = getattr(settings, "budgets", None)
    return ReportOptions(budgets=dict(getattr(budgets, "monthly_usd", {}) or {}),
                         warn_pct=Decimal(getattr(budgets, "warn_pct", DEFAULT_WARN_PCT)),
                         kwh_usd=settings.electricity.kwh_usd)


@dataclass(frozen=True)
class MonthTotal:
    month: str
    totals: Totals


@dataclass(frozen=True)
class Report:
    """Everything a reader sees. ``lines`` are the period's runs (oldest first) after the filters."""

    period: Period
    group_by: tuple[str, ...]
    filters: Filters
    generated_at: datetime
    lines: list[RunLine]
    """The runs' parts of each month of the period (a run that crosses a month boundary has a line in each)."""
    total: Totals
    groups: list[Group]
    breakdowns: dict[str, list[Group]]
    units: Units
    accuracy: Accuracy
    trend: list[MonthTotal]
    budgets: list[BudgetLine]
    paybacks: list[history.Payback]
    payback_window: str
    notes: list[str]
    alerts: list[str] = field(default_factory=list)
    """Open runs far past their estimate, spend no budget covers."""
    accuracy_trend: list[MonthAccuracy] = field(default_factory=list)
    """Estimate accuracy per month of the trend, before and after the team's corrections."""
    outlook: Outlook | None = None
    """Month-to-date and forecast, the change on the period before, spend per day, top waste (``forecast``)."""
    revision: Revision | None = None
    """A closed period: its first report against now, and the late bills in between (``revisions``)."""

    @property
    def empty(self) -> bool:
        return not self.lines

    @property
    def warnings(self) -> list[str]:
        """One line per project past its budget's warning share or past 100 %, then the alerts."""
        return [line.message for line in self.budgets if line.level != "ok"] + self.alerts

    @property
    def over_budget(self) -> bool:
        return any(line.level == "over" for line in self.budgets)

    @property
    def open_lines(self) -> list[RunLine]:
        """Runs still open: shown apart, with what they have accrued, and never in the estimate comparison."""
        return [line for line in self.lines if not line.record.finished]

    @property
    def title(self) -> str:
        return f"GPU spend, {self.period.label} ({self.period.zone})"


def build_report(source: Any, period: Period | str | None = None, group_by: Sequence[str] | str | None = (),
                 filters: Filters | None = None, settings: Any = None, clock: Any = None) -> Report:
    """The report over ``source`` (a ``Ledger`` or an iterable of ``RunRecord``).

    ``period``: a ``Period``, a ``YYYY-MM`` month, or None for the clock's current month. ``group_by``:
    dimension names (``DIMENSIONS``). ``settings``: ``ReportOptions``, ``providers.settings.Settings`` or
    None (no budgets). ``clock``: anything with ``now()`` ("this month", committed spend, price dates);
    default ``remote_jobs.clock.default_clock()``.
    """
    now = (clock or _default_clock()).now()
    span = period if isinstance(period, Period) else month_period(period) if period else parse_period(now)
    options = _options(settings)
    dims = check_dimensions([group_by] if isinstance(group_by, str) else list(group_by or ()))
    filters = filters or Filters()
    trend, window = trend_months(span, options.trend_months), _payback_window(span, now)
    before = _previous(span)
    fetched = _records(source, min(trend[0].start, window.start, span.start, before.start), max(span.end, window.end))
    kept = [allocate(record, now, span.tz) for record in fetched if filters.keep(record)]
    chosen = _lines(kept, span.start, span.end)
    in_period = chosen if not filters.active else _lines([allocate(r, now, span.tz) for r in fetched if not filters.keep(r)],
                                                         span.start, span.end) + chosen
    # a budget's state is the project's whole spend, whatever the filters show (issue: budgets that act)
    budgets = {**options.budgets, **_ledger_budgets(source, span)}
    paybacks, payback_notes = (_paybacks(options, _lines(kept, window.start, window.end), window, now)
                               if options.rent_vs_buy else ([], []))
    notes = _empty_notes(chosen, span, filters) + _unknown_names(fetched, filters) + payback_notes
    if budgets and filters.active:
        notes.append("budget status counts every run of each project in the period, whatever the filters show")
    everything = add_up(in_period)
    changed = revision(source, span, everything.cost_usd, everything.runs,
                       sorted({line.record.run_id for line in in_period}), now)
    if changed is not None:
        notes.append(changed.message(span.label) + (" (all runs, whatever the filters show)" if filters.active else ""))
    trend_totals, trend_accuracy = _trend(kept, trend)
    previous = (before.label, add_up(_lines(kept, before.start, before.end)).cost_usd)
    total = add_up(chosen)
    return Report(
        period=span, group_by=dims, filters=filters, generated_at=now, lines=chosen, total=total,
        groups=group_lines(chosen, dims), breakdowns={name: group_lines(chosen, (name,)) for name in BREAKDOWNS},
        units=unit_costs(chosen), accuracy=accuracy(chosen), trend=trend_totals, accuracy_trend=trend_accuracy,
        budgets=budget_lines(in_period, _budgets_in_view(budgets, filters), span, options.warn_pct),
        paybacks=paybacks, payback_window=window.label, notes=notes,
        alerts=overrun_alerts(chosen, now) + _unbudgeted(in_period, budgets, filters), revision=changed,
        outlook=outlook(span, chosen, kept, total, previous, now),
    )


def _previous(span: Period) -> Period:
    """The period before: the month before a month, the quarter before a quarter, else as many days before."""
    months = round((span.end - span.start).days / 30.4)
    tz = span.tz
    if (span.start == first_of_month(span.start, tz) and span.end == add_months(span.start, months, tz)
            and months in (1, 3)):
        start = add_months(span.start, -months, tz)
        label = month_label(start, tz) if months == 1 else f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        return Period(start, span.start, label, tz)
    start = span.start - (span.end - span.start)
    return Period(start, span.start, f"{start.date()} to {(span.start - timedelta(days=1)).date()}", tz)


def _unbudgeted(lines: list[RunLine], budgets: dict[str, Decimal], filters: Filters) -> list[str]:
    """Spend in the ``default`` project (a spec that names no project) is spend no budget can cover."""
    if "default" in budgets or (filters.project and "default" not in filters.project):
        return []
    stray = [line for line in lines if line.record.project == "default"]
    spent = sum((line.cost_usd or ZERO) + line.committed_usd for line in stray)
    if not stray or not spent:
        return []
    return [f"{len(stray)} run(s) in the project 'default' spent or committed {usd_text(spent)} with no budget: name a "
            "project in the job spec (project: …)"]


def _ledger_budgets(source: Any, span: Period) -> dict[str, Decimal]:
    """The team budgets kept in the ledger (``tuneplan budget set``), per project: the month's own where the period
    is that month, else the every-month one. They win over settings.yaml's for the same project."""
    if not hasattr(source, "query"):
        return {}
    from remote_jobs.team_budgets import project_budgets

    month = span.label if len(span.label) == 7 and span.label[4] == "-" else None
    try:
        return project_budgets(source, month)
    except BadInput:  # a ledger a read-only role cannot bring to the schema with budgets
        return {}


def _default_clock() -> Any:
    from remote_jobs.clock import default_clock

    return default_clock()


def _options(settings: Any) -> ReportOptions:
    if isinstance(settings, ReportOptions):
        return settings
    return options_from_settings(settings) if settings is not None else ReportOptions()


def _lines(allocations: list[Allocation], start: datetime, end: datetime) -> list[RunLine]:
    """Every run's lines in [start, end), oldest run first (then by month)."""
    lines = [line for allocation in allocations for line in lines_for(allocation, start, end)]
    return sorted(lines, key=lambda line: (line.record.created_at is None, line.record.created_at, line.record.run_id,
                                           line.month))


def _trend(allocations: list[Allocation], months: list[Period]) -> tuple[list[MonthTotal], list[MonthAccuracy]]:
    by_month: dict[str, list[RunLine]] = {}
    for line in _lines(allocations, months[0].start, months[-1].end):
        by_month.setdefault(line.month, []).append(line)
    return ([MonthTotal(m.label, add_up(by_month.get(m.label, []))) for m in months],
            accuracy_by_month(by_month, [m.label for m in months]))


def _records(source: Any, since: datetime, until: datetime) -> list[RunRecord]:
    """The runs that may have used a machine in [since, until): created before its end, and created in it, or
    ended in it or later, or not ended yet."""
    if hasattr(source, "runs_in_use") and callable(source.runs_in_use):
        return list(source.runs_in_use(since, until))
    return [r for r in source if r.created_at is not None and r.created_at < until
            and (r.created_at >= since or r.ended_at is None or (r.torn_down_at or r.ended_at) >= since)]


def _payback_window(span: Period, now: datetime) -> Period:
    """The 3 whole calendar months that end with the period's last month, or with last month when the period
    reaches into the current (unfinished) month."""
    tz = span.tz
    last = min(month_period(span.last_month, tz).start, add_months(month_period(month_label(now, tz), tz).start, -1, tz))
    start = add_months(last, -(history.WINDOW_MONTHS - 1), tz)
    return Period(start, add_months(last, 1, tz), f"{month_label(start, tz)} to {month_label(last, tz)}", tz)


def _paybacks(options: ReportOptions, lines: list[RunLine], window: Period, now: datetime):
    rows = options.price_rows
    if rows is None:
        from providers.prices_refresh import current_prices

        rows = current_prices()
    return history.paybacks(lines, options.payback_gpus, rows, now.date(), options.kwh_usd, window.label)


def _budgets_in_view(budgets: Mapping[str, Decimal], filters: Filters) -> dict[str, Decimal]:
    return {p: Decimal(v) for p, v in budgets.items() if not filters.project or p in filters.project}


def _unknown_names(records: list[RunRecord], filters: Filters) -> list[str]:
    """A filter value no fetched run has is most likely a typo: say so, with the closest names."""
    out: list[str] = []
    if not records:
        return out
    for name in ("project", "owner", "provider", "gpu"):
        known = {getattr(r, name) for r in records}
        for value in getattr(filters, name):
            if value not in known:
                out.append(f"no run of {name} '{value}' in the ledger near this period{did_you_mean(value, known)}")
    return out


def _empty_notes(lines: list[RunLine], span: Period, filters: Filters) -> list[str]:
    if lines:
        return []
    where = f" matching {filters.describe()}" if filters.describe() else ""
    return [f"no runs in {span.label}{where}: nothing was spent"]
