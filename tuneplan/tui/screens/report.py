"""The Report screen: a month's spending by project, owner and provider, estimate against actual, and the
budgets — from the same report model as ``tuneplan report`` (``remote_jobs.reporting``), never a second
calculation. ``[`` and ``]`` step through the months; the report is built in a worker (it reads the ledger).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Label, Static

from tuneplan.tui.formatting import bold_then, plain_cell
from tuneplan.tui.messages import ReportReady
from tuneplan.tui.screens.base import TuneplanScreen

BREAKDOWNS = (("project", "By project"), ("owner", "By owner"), ("provider", "By provider"))


class ReportScreen(TuneplanScreen):
    """This month's totals (or another month's, with [ and ])."""

    TITLE = "Report"
    BINDINGS = [
        Binding("left_square_bracket", "month(-1)", "Previous month", tooltip="The month before"),
        Binding("right_square_bracket", "month(1)", "Next month", tooltip="The month after"),
        Binding("g", "refresh_report", "Refresh", tooltip="Read the ledger again"),
    ]

    def __init__(self) -> None:
        super().__init__(id="report-screen")
        self.report = None
        self.month: datetime | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="report-body"):
            yield Static("reading the ledger …", id="report-summary", markup=False)
            yield Static("", id="report-warnings", markup=False)
            for key, title in BREAKDOWNS:
                yield Label(title, classes="report-title")
                yield DataTable(id=f"report-{key}", classes="report-table", zebra_stripes=True, cursor_type="row")
            yield Label("Estimate vs actual", classes="report-title")
            yield Static("", id="report-accuracy", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        now = self.ctx.clock.now()
        self.month = datetime(now.year, now.month, 1, tzinfo=now.tzinfo)
        self.action_refresh_report()

    def on_screen_resume(self) -> None:
        if self.report is not None:
            self.action_refresh_report()

    def action_month(self, step: int) -> None:
        year, month = divmod(self.month.year * 12 + self.month.month - 1 + step, 12)
        wanted = self.month.replace(year=year, month=month + 1)
        now = self.ctx.clock.now()
        if (wanted.year, wanted.month) > (now.year, now.month):  # nothing is spent in a month not begun
            self.notify("this is the current month: nothing later to report", timeout=3)
            return
        self.month = wanted
        self.action_refresh_report()

    def action_refresh_report(self) -> None:
        self._build(f"{self.month.year:04d}-{self.month.month:02d}")

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def _build(self, month: str) -> None:
        from remote_jobs.reporting import build_report
        from remote_jobs.reporting.model import options_from_settings

        # the payback table (a price lookup per card) stays in the CLI and the files
        options = replace(options_from_settings(self.ctx.settings), rent_vs_buy=False)
        self.post_message(ReportReady(build_report(self.ctx.open_ledger(), month, (), None, options, self.ctx.clock)))

    def on_report_ready(self, message: ReportReady) -> None:
        from remote_jobs.reporting.to_table import accuracy_rows, group_table, summary_rows

        report = self.report = message.report
        rows = summary_rows(report)
        notes = "".join(f"\n{note}" for note in report.notes) if report.empty else ""
        self.query_one("#report-summary", Static).update(bold_then(
            report.title, notes + "".join(f"\n{name:<22} {value}" for name, value in rows if not report.empty)))
        self.query_one("#report-warnings", Static).update("\n".join(f"⚠ {w}" for w in report.warnings))
        for key, _ in BREAKDOWNS:
            self._fill(key, group_table(key, "", (key,), report.breakdowns[key], report.total))
        self.query_one("#report-accuracy", Static).update("\n".join(f"{n:<22} {v}" for n, v in accuracy_rows(report)))

    def _fill(self, key: str, table_data) -> None:
        table = self.query_one(f"#report-{key}", DataTable)
        table.clear(columns=True)
        table.add_columns(*table_data.columns)
        for row in table_data.rows:
            table.add_row(*map(plain_cell, row))
        if table_data.total is not None and table_data.rows:
            table.add_row(*map(plain_cell, table_data.total), key="total")
