"""The report as plain text tables (title, columns, rows of strings, a total row): what the CLI draws with
rich and the TUI can show in its own widgets, without either re-deriving a figure.

Plain data only; no rich here (the headless layers never import a UI toolkit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from providers.plain_text import plain
from remote_jobs.reporting.allocate import to_unit
from remote_jobs.reporting.lines import RunLine
from remote_jobs.reporting.model import Report
from remote_jobs.reporting.text import count, hours, pct, runs, signed_usd, usd
from remote_jobs.reporting.totals import Group, Totals


@dataclass(frozen=True)
class TextTable:
    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: frozenset[int] = frozenset()
    total: tuple[str, ...] | None = None
    notes: list[str] = field(default_factory=list)


GROUP_COLUMNS = ("runs", "GPU-h", "estimate", "cost", "vs est.", "billed", "waste")
RUN_COLUMNS = ("run", "month", "project", "owner", "where", "state", "time", "estimate", "cost", "vs est.", "billed",
               "waste", "why")


def summary_rows(report: Report) -> list[tuple[str, str]]:
    t = report.total
    unfinished = f" ({t.unfinished} unfinished)" if t.unfinished else ""
    units = report.units
    rows = [
        ("runs", f"{count(t.runs)}{unfinished}"),
        ("GPU-hours", hours(t.gpu_hours)),
        ("cost", f"{usd(t.cost_usd)} (billed where the provider billed, else rate × time)"),
        ("at the recorded rate", usd(t.recorded_usd)),
        ("billed by providers", f"{usd(t.billed_usd)} on {runs(t.billed_runs)}, {signed_usd(t.billed_delta_usd)} "
                                "against the recorded rate"),
        ("estimated", f"{usd(t.estimate_usd)}; finished runs cost {pct(t.usd_error_pct, signed=True)} against "
                      f"theirs ({signed_usd(t.delta_usd)})"),
        ("open runs", _open_runs(report)),
        ("waste", f"{usd(t.waste_usd)}: failed/cancelled/stopped {usd(t.failed_usd)} ({runs(t.failed_runs)}), "
                  f"provisioning {usd(t.provisioning_usd)}, idle before teardown {usd(t.idle_usd)}"),
        ("unit costs", f"{usd(units.usd_per_run)} per run, {usd(units.usd_per_gpu_hour)} per GPU-hour, "
                       f"{usd(units.usd_per_million_tokens)} per million training tokens"),
    ]
    return rows + outlook_rows(report)


def outlook_rows(report: Report) -> list[tuple[str, str]]:
    """Month to date and forecast, the change on the period before, the cost of a successful run."""
    o = report.outlook
    if o is None:
        return []
    rows = []
    if o.forecast is not None:
        f = o.forecast
        rows.append(("forecast", f"{usd(f.month_end_usd)} at the month's end: {usd(f.spent_usd)} spent in "
                                 f"{f.days_elapsed} days ({usd(f.usd_per_day)}/day) + {usd(f.committed_usd)} committed "
                                 f"by open runs + {f.days_left} days at that rate"))
    rows.append((f"vs {o.previous_label}", f"{usd(o.previous_usd)} then, {signed_usd(o.change_usd)} "
                                            f"({pct(o.change_pct, signed=True)})"))
    rows.append(("per successful run", f"{usd(o.usd_per_successful_run)} (all the period's cost over the runs that "
                                       "succeeded)"))
    return rows


def waste_table(report: Report) -> TextTable:
    rows = [(w.run_id, w.project, w.state, usd(w.waste_usd), w.why) for w in report.outlook.top_waste]
    return TextTable("top_waste", f"Most waste in {report.period.label}", ("run", "project", "state", "waste", "why"),
                     rows, frozenset({3}))


def _open_runs(report: Report) -> str:
    """Open runs apart: how many, what they have accrued so far and what they have committed."""
    from remote_jobs.reporting.lines import accrued_usd

    opened = report.open_lines
    if not opened:
        return "none"
    runs_open = {line.record.run_id: line.record for line in opened}  # a run open across months has a line in each
    accrued = sum((accrued_usd(record, report.generated_at) for record in runs_open.values()), Decimal(0))
    return (f"{runs(len(runs_open))}: {usd(to_unit(accrued))} accrued so far, "
            f"{usd(report.total.committed_usd)} committed to their estimated end (not in the estimate comparison)")


def _group_cells(totals: Totals) -> tuple[str, ...]:
    return (count(totals.runs), f"{totals.gpu_hours:,.2f}", usd(totals.estimate_usd), usd(totals.cost_usd),
            pct(totals.usd_error_pct, signed=True), usd(totals.billed_usd), usd(totals.waste_usd))


def group_table(key: str, title: str, names: Sequence[str], groups: list[Group], total: Totals) -> TextTable:
    rows = [(*group.key, *_group_cells(group.totals)) for group in groups]
    first = len(names)
    return TextTable(key, title, (*names, *GROUP_COLUMNS), rows, frozenset(range(first, first + len(GROUP_COLUMNS))),
                     ("total", *[""] * (first - 1), *_group_cells(total)))


def run_cells(line: RunLine) -> tuple[str, ...]:
    r = line.record
    return (r.run_id, line.month, r.project, r.owner, f"{r.provider}/{r.gpu}", r.state.value, hours(line.hours),
            usd(line.estimate_usd), usd(line.cost_usd), signed_usd(line.delta_usd), usd(line.billed_usd),
            usd(line.waste_usd), plain(r.failure_reason or "")[:60])


def runs_table(report: Report) -> TextTable:
    t = report.total
    total = ("total", "", "", "", "", runs(t.runs), hours(t.hours), usd(t.estimate_usd), usd(t.cost_usd),
             signed_usd(t.delta_usd), usd(t.billed_usd), usd(t.waste_usd), "")
    title = f"Runs in {report.period.label} ({report.period.zone}; a run has a line per month it used a machine in)"
    return TextTable("runs", title, RUN_COLUMNS, [run_cells(line) for line in report.lines],
                     frozenset({6, 7, 8, 9, 10, 11}), total)


def budget_table(report: Report) -> TextTable:
    rows = [(b.project, usd(b.budget_usd), usd(b.spent_usd), usd(b.committed_usd), usd(b.remaining_usd),
             pct(b.used_pct), b.level) for b in report.budgets]
    return TextTable("budgets", f"Budgets for {report.period.label}",
                     ("project", "budget", "spent", "committed", "remaining", "used", "status"), rows,
                     frozenset({1, 2, 3, 4, 5}), notes=report.warnings)


def trend_table(report: Report) -> TextTable:
    rows = [(m.month, count(m.totals.runs), f"{m.totals.gpu_hours:,.2f}", usd(m.totals.cost_usd),
             usd(m.totals.estimate_usd), usd(m.totals.waste_usd)) for m in report.trend]
    return TextTable("trend", "Month by month", ("month", "runs", "GPU-h", "cost", "estimate", "waste"), rows,
                     frozenset({1, 2, 3, 4, 5}))


def accuracy_trend_table(report: Report) -> TextTable:
    rows = [(m.month, count(m.runs), count(m.calibrated_runs), pct(m.hours_plain_pct), pct(m.hours_pct),
             pct(m.usd_plain_pct), pct(m.usd_pct), pct(m.memory_pct)) for m in report.accuracy_trend if m.runs]
    return TextTable("accuracy_trend", "Estimate accuracy by month (median |error| of succeeded runs)",
                     ("month", "runs", "calibrated", "hours plain", "hours", "$ plain", "$", "memory"), rows,
                     frozenset({1, 2, 3, 4, 5, 6, 7}),
                     notes=["plain: the planner's estimate alone; hours, $: the estimate the launch used, corrected "
                            "by the team's past runs where it had some"])


def unit_table(report: Report) -> TextTable:
    rows = [(u.provider, u.gpu, count(u.runs), f"{u.gpu_hours:,.2f}", usd(u.cost_usd), usd(u.usd_per_gpu_hour),
             usd(u.usd_per_million_tokens)) for u in report.units.by_provider_gpu]
    return TextTable("units", "Unit costs by provider and GPU",
                     ("provider", "gpu", "runs", "GPU-h", "cost", "$/GPU-h", "$/M tokens"), rows,
                     frozenset({2, 3, 4, 5, 6}))


def accuracy_rows(report: Report) -> list[tuple[str, str]]:
    a = report.accuracy
    if not a.runs:
        return [("estimates", "no succeeded run with an estimate and a cost in this period")]
    return [
        ("runs compared", f"{a.runs} succeeded runs"),
        ("dollars", f"estimated {usd(a.estimate_usd)}, actual {usd(a.actual_usd)} ({pct(a.usd_error_pct, True)}); "
                    f"median |error| {pct(a.usd_median_abs_error_pct)}, {pct(a.usd_within_pct)} of runs within "
                    f"±{a.within:g} %"),
        ("hours", f"estimated {hours(a.estimate_hours)}, actual {hours(a.actual_hours)} ({pct(a.hours_error_pct, True)}); "
                  f"median |error| {pct(a.hours_median_abs_error_pct)}, {pct(a.hours_within_pct)} within ±{a.within:g} %"),
    ]


def payback_table(report: Report) -> TextTable:
    rows = [(p.gpu if p.cards == 1 else f"{p.cards}× {p.gpu}", f"{p.owned_hours_per_month:,.1f} h",
             usd(p.purchase_usd), usd(p.own_usd_per_month), usd(p.rent_usd_per_month),
             str(p.break_even_month) if p.break_even_month else "never") for p in report.paybacks]
    notes = [f"{p.verdict}: cheapest rental for the same work {p.rent_offer} ({p.rent_price_source}); "
             f"team's actual rented spend {usd(p.rented_usd_per_month)}/month; {p.basis}" for p in report.paybacks]
    return TextTable("rent_vs_buy", f"Rent vs buy at the usage of {report.payback_window}",
                     ("buy", "busy/month", "purchase", "own/month", "rent/month", "pays back (months)"), rows,
                     frozenset({1, 2, 3, 4, 5}), notes=notes)


def tables(report: Report, with_runs: bool = True) -> list[TextTable]:
    """Every table of the report, in reading order (run lines optional: there may be thousands)."""
    if report.group_by:
        title = "By " + " × ".join(report.group_by)
        grouped = group_table("groups", title, report.group_by, report.groups, report.total)
    else:
        grouped = group_table("groups", "By project", ("project",), report.breakdowns["project"], report.total)
    out = [grouped]
    if with_runs:
        out.append(runs_table(report))
    if report.budgets:
        out.append(budget_table(report))
    if report.outlook is not None and report.outlook.top_waste:
        out.append(waste_table(report))
    out += [unit_table(report), trend_table(report)]
    if any(m.runs for m in report.accuracy_trend):
        out.append(accuracy_trend_table(report))
    if report.paybacks:
        out.append(payback_table(report))
    return out
