"""The report as an Excel workbook: Summary (totals, by project/provider/owner, estimates, rent vs buy, two
native bar charts), Trend, Runs (one row per run, every column), Budgets, and Groups when ``--by`` asked.

Numbers are stored as numbers (Decimal cents, written exactly) with currency formats, never as text, so
finance can sum and pivot them. openpyxl is imported here, inside the function, and nowhere else. The
workbook is written in openpyxl's write-only mode: 10,000 runs stay a matter of seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from providers.plain_text import plain
from remote_jobs.reporting.model import Report
from remote_jobs.reporting.to_csv import COLUMNS
from remote_jobs.reporting.totals import Group, Totals

USD = '"$"#,##0.0000;-"$"#,##0.0000'
RATE = '"$"#,##0.00####'
HOURS = "#,##0.00"
PCT = '0.0" %"'  # the cell holds 12.5 for 12.5 %, as the CSV's *_pct columns do: one way to store a percentage
WHEN = "yyyy-mm-dd hh:mm:ss"
NUMBER_FORMATS = {"usd": USD, "rate": RATE, "float": HOURS, "pct": PCT, "time": WHEN, "int": "#,##0"}
GROUP_HEADERS = ("runs", "GPU-hours", "estimate", "cost", "billed", "waste")


def write_xlsx(report: Report, path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    writer = _Writer(book)
    summary = book.create_sheet("Summary")
    trend = book.create_sheet("Trend")
    writer.trend(trend, report)
    writer.summary(summary, report, trend)
    writer.runs(book.create_sheet("Runs"), report)
    writer.budgets(book.create_sheet("Budgets"), report)
    writer.accuracy(book.create_sheet("Accuracy"), report)
    if report.group_by:
        writer.groups(book.create_sheet("Groups"), report.group_by, report.groups, report.total)
    path = Path(path)
    book.save(path)
    return path


class _Writer:
    """Cell helpers over one write-only workbook (styles made once, not per cell)."""

    def __init__(self, book: Any) -> None:
        from openpyxl.styles import Font, PatternFill

        self.book = book
        self.bold = Font(bold=True)
        self.title_font = Font(bold=True, size=14)
        self.fills = {"warn": PatternFill("solid", fgColor="FFF2CC"), "over": PatternFill("solid", fgColor="F8CBAD")}

    def cell(self, sheet: Any, value: Any, number_format: str | None = None, bold: bool = False, fill: Any = None):
        from openpyxl.cell import WriteOnlyCell

        if isinstance(value, datetime):
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        if isinstance(value, str):
            return _text_cell(sheet, value, font=self.bold if bold else None, fill=fill)
        cell = WriteOnlyCell(sheet, value=value)
        if number_format and value is not None:
            cell.number_format = number_format
        if bold:
            cell.font = self.bold
        if fill is not None:
            cell.fill = fill
        return cell

    def header(self, sheet: Any, names: Sequence[str]) -> None:
        _append(sheet, [self.cell(sheet, name, bold=True) for name in names])

    # --- sheets ---------------------------------------------------------------------------------------------
    def trend(self, sheet: Any, report: Report) -> None:
        _widths(sheet, [10, 8, 12, 14, 14, 14, 14])
        self.header(sheet, ("month", "runs", "GPU-hours", "cost", "estimate", "billed", "waste"))
        for month in report.trend:
            t = month.totals
            _append(sheet, [month.month, t.runs, self.cell(sheet, t.gpu_hours, HOURS), self.cell(sheet, t.cost_usd, USD),
                          self.cell(sheet, t.estimate_usd, USD), self.cell(sheet, t.billed_usd, USD),
                          self.cell(sheet, t.waste_usd, USD)])

    def accuracy(self, sheet: Any, report: Report) -> None:
        """Estimate accuracy per month, plain and calibrated (median |error| in %, stored as the number of %)."""
        _widths(sheet, [10, 8, 12, 14, 14, 14, 14, 14])
        self.header(sheet, ("month", "runs", "calibrated", "hours plain |err|", "hours |err|", "$ plain |err|",
                            "$ |err|", "memory |err|"))
        for m in report.accuracy_trend:
            _append(sheet, [m.month, m.runs, m.calibrated_runs,
                            *[self.cell(sheet, v, PCT) for v in (m.hours_plain_pct, m.hours_pct, m.usd_plain_pct,
                                                                m.usd_pct, m.memory_pct)]])

    def summary(self, sheet: Any, report: Report, trend: Any) -> None:
        _widths(sheet, [28, 14, 14, 14, 14, 14, 14])
        row = _RowCounter(sheet)
        row.add([self.cell(sheet, report.title, bold=True)])
        row.add(["period", report.period.label, "generated (UTC)", self.cell(sheet, report.generated_at, WHEN)])
        row.add(["filters", report.filters.describe() or "none"])
        for note in [*report.notes, *report.warnings]:
            row.add([self.cell(sheet, note, bold=True)])
        row.add([])
        for label, value, fmt in _total_rows(report.total, report):
            row.add([label, self.cell(sheet, value, fmt)])
        row.add([])
        project_rows = self._group_block(row, sheet, "project", report.breakdowns["project"], report.total)
        for name in ("provider", "owner"):
            self._group_block(row, sheet, name, report.breakdowns[name], report.total)
        self._accuracy(row, sheet, report)
        self._paybacks(row, sheet, report)
        _charts(sheet, trend, len(report.trend), project_rows)

    def _group_block(self, row: "_RowCounter", sheet: Any, name: str, groups: list[Group], total: Totals) -> tuple[int, int]:
        row.add([self.cell(sheet, f"by {name}", bold=True), *[self.cell(sheet, h, bold=True) for h in GROUP_HEADERS]])
        first = row.next
        for group in groups:
            row.add([group.label, *self._group_cells(sheet, group.totals)])
        last = row.next - 1
        row.add([self.cell(sheet, "total", bold=True), *self._group_cells(sheet, total)])
        row.add([])
        return first, last

    def _group_cells(self, sheet: Any, t: Totals) -> list[Any]:
        return [t.runs, self.cell(sheet, t.gpu_hours, HOURS), self.cell(sheet, t.estimate_usd, USD),
                self.cell(sheet, t.cost_usd, USD), self.cell(sheet, t.billed_usd, USD), self.cell(sheet, t.waste_usd, USD)]

    def _accuracy(self, row: "_RowCounter", sheet: Any, report: Report) -> None:
        a = report.accuracy
        row.add([self.cell(sheet, "estimate vs actual (succeeded runs)", bold=True), "estimate", "actual", "error",
                 "median |error|", f"within ±{a.within:g} %"])
        row.add(["dollars", self.cell(sheet, a.estimate_usd, USD), self.cell(sheet, a.actual_usd, USD),
                 *[self.cell(sheet, _share(v), PCT) for v in (a.usd_error_pct, a.usd_median_abs_error_pct,
                                                                a.usd_within_pct)]])
        row.add(["hours", self.cell(sheet, a.estimate_hours, HOURS), self.cell(sheet, a.actual_hours, HOURS),
                 *[self.cell(sheet, _share(v), PCT) for v in (a.hours_error_pct, a.hours_median_abs_error_pct,
                                                                a.hours_within_pct)]])
        row.add([])

    def _paybacks(self, row: "_RowCounter", sheet: Any, report: Report) -> None:
        row.add([self.cell(sheet, f"rent vs buy at the usage of {report.payback_window}", bold=True), "purchase",
                 "own/month", "rent/month", "pays back (months)", "verdict"])
        for p in report.paybacks:
            row.add([p.gpu if p.cards == 1 else f"{p.cards}× {p.gpu}", self.cell(sheet, p.purchase_usd, USD),
                     self.cell(sheet, p.own_usd_per_month, USD), self.cell(sheet, p.rent_usd_per_month, USD),
                     p.break_even_month, p.verdict])

    def runs(self, sheet: Any, report: Report) -> None:
        _widths(sheet, [34, *[14] * (len(COLUMNS) - 1)])
        sheet.freeze_panes = "B2"
        sheet.auto_filter.ref = f"A1:{_column(len(COLUMNS))}{len(report.lines) + 1}"
        # a spreadsheet time has no zone of its own: the header names it
        self.header(sheet, [f"{name} (UTC)" if kind == "time" else name for name, (kind, _) in COLUMNS.items()])
        formats = [NUMBER_FORMATS.get(kind) for kind, _ in COLUMNS.values()]
        for line in report.lines:
            values = [get(line) for _, get in COLUMNS.values()]
            _append(sheet, [self._run_cell(sheet, kind, value, fmt)
                          for (kind, _), value, fmt in zip(COLUMNS.values(), values, formats, strict=True)])

    def _run_cell(self, sheet: Any, kind: str, value: Any, fmt: str | None) -> Any:
        if value is None or fmt is None:
            return value
        return self.cell(sheet, _share(value) if kind == "pct" else value, fmt)

    def budgets(self, sheet: Any, report: Report) -> None:
        _widths(sheet, [16, 14, 14, 14, 14, 14, 10, 8, 90])
        self.header(sheet, ("project", "monthly budget", f"budget {report.period.label}", "spent", "committed",
                            "remaining", "used", "status", "warning"))
        for b in report.budgets:
            fill = self.fills.get(b.level)
            _append(sheet, [b.project, self.cell(sheet, b.monthly_usd, USD), self.cell(sheet, b.budget_usd, USD),
                          self.cell(sheet, b.spent_usd, USD), self.cell(sheet, b.committed_usd, USD),
                          self.cell(sheet, b.remaining_usd, USD), self.cell(sheet, _share(b.used_pct), PCT),
                          self.cell(sheet, b.level, fill=fill), b.message])
        if not report.budgets:
            _append(sheet, ["no budgets set: add `budgets: {monthly_usd: {<project>: <usd>}}` to settings.yaml"])

    def groups(self, sheet: Any, dims: tuple[str, ...], groups: list[Group], total: Totals) -> None:
        self.header(sheet, (*dims, *GROUP_HEADERS))
        for group in groups:
            _append(sheet, [*group.key, *self._group_cells(sheet, group.totals)])
        _append(sheet, [self.cell(sheet, "total", bold=True), *[""] * (len(dims) - 1), *self._group_cells(sheet, total)])


class _RowCounter:
    """Appends rows to a write-only sheet and remembers the next row number (charts need references)."""

    def __init__(self, sheet: Any) -> None:
        self.sheet, self.next = sheet, 1

    def add(self, values: list[Any]) -> None:
        _append(self.sheet, values)
        self.next += 1


def _append(sheet: Any, values: list[Any]) -> None:
    """Every row goes through here, so no string anywhere in the workbook can become a formula."""
    sheet.append([_text_cell(sheet, v) if isinstance(v, str) else v for v in values])


def _text_cell(sheet: Any, text: str, font: Any = None, fill: Any = None) -> Any:
    """A cell that holds ``text`` as text: project names, owners, failure reasons and notes come from people
    and remote machines, and '=HYPERLINK(…)', '+…', '@SUM(…)' must stay the words they are, not formulas.
    Control characters (which openpyxl refuses and Excel cannot show) are dropped."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=plain(text))
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    return cell


def _total_rows(t: Totals, report: Report) -> list[tuple[str, Any, str | None]]:
    u = report.units
    return [
        ("runs", t.runs, "#,##0"), ("unfinished runs", t.unfinished, "#,##0"), ("GPU-hours", t.gpu_hours, HOURS),
        ("cost (billed, else rate × time)", t.cost_usd, USD), ("cost at the recorded rate", t.recorded_usd, USD),
        ("billed by providers", t.billed_usd, USD), ("billed − recorded (billed runs)", t.billed_delta_usd, USD),
        ("estimated", t.estimate_usd, USD), ("cost vs estimate", _share(t.usd_error_pct), PCT),
        ("committed (open runs)", t.committed_usd, USD), ("waste", t.waste_usd, USD),
        ("  failed, cancelled, budget-stopped", t.failed_usd, USD), ("  provisioning", t.provisioning_usd, USD),
        ("  idle before teardown", t.idle_usd, USD), ("cost per run", u.usd_per_run, USD),
        ("cost per GPU-hour", u.usd_per_gpu_hour, USD), ("cost per million training tokens", u.usd_per_million_tokens, USD),
    ]


def _share(percent: Any) -> float | None:
    """A percentage as the number of percent (12.5 for 12.5 %), the same figure the CSV and JSON hold."""
    return None if percent is None else float(percent)


def _column(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def _widths(sheet: Any, widths: list[int]) -> None:
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[_column(index)].width = width


def _charts(sheet: Any, trend: Any, months: int, project_rows: tuple[int, int]) -> None:
    """Native bar charts: spend by month (from the Trend sheet) and spend by project (from this sheet)."""
    from openpyxl.chart import BarChart, Reference

    by_month = BarChart()
    by_month.title, by_month.y_axis.title = "Spend by month (USD)", "USD"
    by_month.y_axis.numFmt = USD
    by_month.add_data(Reference(trend, min_col=4, min_row=1, max_row=months + 1), titles_from_data=True)
    by_month.set_categories(Reference(trend, min_col=1, min_row=2, max_row=months + 1))
    by_month.width, by_month.height = 18, 8
    by_month.legend = None
    _show_axes(by_month)
    sheet.add_chart(by_month, "I2")
    first, last = project_rows
    if last >= first:
        by_project = BarChart()
        by_project.type, by_project.title = "bar", "Spend by project (USD)"
        by_project.y_axis.numFmt = USD
        by_project.add_data(Reference(sheet, min_col=5, min_row=first - 1, max_row=last), titles_from_data=True)
        by_project.set_categories(Reference(sheet, min_col=1, min_row=first, max_row=last))
        by_project.width, by_project.height = 18, 8
        by_project.legend = None
        _show_axes(by_project)
        sheet.add_chart(by_project, "I20")


def _show_axes(chart: Any) -> None:
    """openpyxl 3.1 marks axes deleted unless told otherwise; Excel then draws no labels."""
    chart.x_axis.delete = False
    chart.y_axis.delete = False
