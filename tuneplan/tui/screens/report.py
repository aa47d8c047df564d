"""The Report screen (filled in once the finance report model lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from tuneplan.tui.screens.base import TuneplanScreen


class ReportScreen(TuneplanScreen):
    TITLE = "Report"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("report: in progress", id="report-summary")
        yield Footer()
