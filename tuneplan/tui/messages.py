"""Messages that workers post back to the UI (workers never touch widgets; handlers do)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class EstimateReady(Message):
    """A Plan estimate computed off the UI thread (a Hub id or a local folder had to be read)."""

    def __init__(self, estimate: Any, values: dict[str, Any]) -> None:
        super().__init__()
        self.estimate = estimate
        self.values = values


class OptionsReady(Message):
    """The ranked candidates for the current job and filters (``planner.recommend.Recommendation``)."""

    def __init__(self, recommendation: Any) -> None:
        super().__init__()
        self.recommendation = recommendation


class RunsLoaded(Message):
    """The ledger's runs, newest first, read by the polling worker."""

    def __init__(self, records: list) -> None:
        super().__init__()
        self.records = records


class LogLines(Message):
    """New output lines of the selected run (``replace`` when it is a fresh tail, not a continuation)."""

    def __init__(self, run_id: str, lines: list[str], replace: bool = False) -> None:
        super().__init__()
        self.run_id = run_id
        self.lines = lines
        self.replace = replace


class RunEvent(Message):
    """A lifecycle event (``remote_jobs.events``) from a launch or watch the TUI is running."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class LaunchPrepared(Message):
    """A launch decided but not started (``remote_jobs.launch.LaunchRequest``), ready to confirm, or the
    ``problem`` (missing credentials) that stops it."""

    def __init__(self, request: Any, candidate: Any, problem: str = "") -> None:
        super().__init__()
        self.request = request
        self.candidate = candidate
        self.problem = problem


class ActionDone(Message):
    """A run action (pull, stop, open) finished; ``message`` is what to tell the user."""

    def __init__(self, message: str, severity: str = "information") -> None:
        super().__init__()
        self.message = message
        self.severity = severity


class ReportReady(Message):
    """A report built from the ledger (``remote_jobs.reporting.Report``)."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report
