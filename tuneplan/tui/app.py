"""The Textual app: screens as modes (Plan, Options, Rent vs buy, Runs, Report), a key and a command-palette
entry for each, one error handler, and the launch flow that ties an option to the Runs screen.

``make_app`` is the one factory: the CLI (``tuneplan``, ``tuneplan tui --spec job.yaml``) and every test
build the app with it, injecting what they need (ledger, runs dir, clock, prices, machine).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual import work
from textual.worker import Worker, WorkerState, get_current_worker

from tuneplan.tui.context import TuiContext, build_context
from tuneplan.tui.messages import LaunchPrepared, RunEvent

SCREENS = (  # mode, title, what it is for (the command palette's help line)
    ("plan", "Plan", "Memory, hours and dollars for the job as you edit it"),
    ("options", "Options", "Every place the job could run, ranked, and launching there"),
    ("rent", "Rent vs buy", "Owning a card against renting the same work"),
    ("runs", "Runs", "The ledger: live runs, logs, pull, stop"),
    ("report", "Report", "This month's spending by project, owner and provider"),
)


def _screen(mode: str) -> Screen:
    if mode == "plan":
        from tuneplan.tui.screens.plan import PlanScreen
        return PlanScreen()
    if mode == "options":
        from tuneplan.tui.screens.options import OptionsScreen
        return OptionsScreen()
    if mode == "rent":
        from tuneplan.tui.screens.rent import RentScreen
        return RentScreen()
    if mode == "runs":
        from tuneplan.tui.screens.runs import RunsScreen
        return RunsScreen()
    from tuneplan.tui.screens.report import ReportScreen
    return ReportScreen()


class TuneplanApp(App):
    """tuneplan in the terminal."""

    CSS_PATH = "tuneplan.tcss"
    TITLE = "tuneplan"
    BINDINGS = [
        Binding("f2", "show('plan')", "Plan", id="show-plan", tooltip="Estimate the job"),
        Binding("f3", "show('options')", "Options", id="show-options", tooltip="Where it can run"),
        Binding("f4", "show('rent')", "Rent/buy", id="show-rent", tooltip="Owning against renting"),
        Binding("f5", "show('runs')", "Runs", id="show-runs", tooltip="The ledger, live"),
        Binding("f6", "show('report')", "Report", id="show-report", tooltip="Spending this month"),
        Binding("f1", "help", "Help", id="help", tooltip="Keys and screens"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        # Focus moves where the app routes keys, before the next key of a burst is routed: as an ordinary
        # binding it ran only after the keys typed behind it had gone to the field being left.
        Binding("tab", "focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, ctx: TuiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.launched: list[str] = []  # run ids launched from this app, newest last
        for mode, _, _ in SCREENS:
            self.add_mode(mode, partial(_screen, mode))

    def on_mount(self) -> None:
        self.switch_mode("plan")
        self.call_after_refresh(self._read_settings)

    @work(thread=True, exit_on_error=False, group="settings")
    def _read_settings(self) -> None:
        """Read the settings file after the first paint, so a mistake in it shows as a dialog at once."""
        _ = self.ctx.settings

    def action_show(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_help(self) -> None:
        from tuneplan.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, title, purpose in SCREENS:
            yield SystemCommand(f"Go to {title}", purpose, partial(self.switch_mode, mode))

    # --- errors -----------------------------------------------------------------------------------------------
    def show_error(self, error: BaseException) -> None:
        """A failure from below as its one line: a dialog (a notification for a provider hiccup)."""
        from planner.errors import TuneplanError
        from tuneplan.tui.screens.dialogs import ErrorDialog

        line = " ".join(str(error).split()) or type(error).__name__
        title = getattr(error, "title", "error") if isinstance(error, TuneplanError) else type(error).__name__
        if getattr(error, "title", "") in ("provider hiccup", "detached"):
            self.notify(line, title=title, severity="warning", timeout=8, markup=False)
            return
        self.push_screen(ErrorDialog(title, line))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.show_error(event.worker.error)

    # --- launching ---------------------------------------------------------------------------------------------
    def prepare_launch(self, candidate: Any) -> None:
        """The launch dialog for ``candidate``: a request is prepared in a worker, or the reason it cannot be."""
        from tuneplan.tui.screens.launch_dialog import LaunchDialog

        problem = ""
        if self.ctx.draft.spec_path is None:
            problem = ("launching needs a job spec with its data: open one with `tuneplan tui --spec job.yaml` "
                       "(examples/tiny-sft.yaml trains on this CPU in seconds)")
        elif not candidate.launchable:
            problem = f"cannot launch here: {candidate.why or 'this launcher is not available'}"
        if problem:
            self.push_screen(LaunchDialog(candidate, None, problem))
            return
        self._prepare(candidate)

    @work(thread=True, exclusive=True, exit_on_error=False, group="launch-prepare")
    def _prepare(self, candidate: Any) -> None:
        from tuneplan.tui.launching import prepare_request

        request = prepare_request(self.ctx, candidate)
        check = request.provider.check()  # credentials: say how to fix them before anything is built or paid
        problem = "" if check.ok else f"{request.provider.name} is not ready: {check.message}" + (
            f" — {check.fix}" if check.fix else "")
        self.post_message(LaunchPrepared(request, candidate, problem))

    def on_launch_prepared(self, message: LaunchPrepared) -> None:
        from tuneplan.tui.screens.launch_dialog import LaunchDialog

        def answered(answer: dict | None) -> None:
            if answer and answer["launch"]:
                self.notify(f"launching {message.request.run_id} …", markup=False)
                self._launch(message.request, answer["validate"])
        self.push_screen(LaunchDialog(message.candidate, message.request, message.problem), answered)

    @work(thread=True, exit_on_error=False, group="launch")
    def _launch(self, request: Any, validate: bool = True) -> None:
        from tuneplan.tui.launching import launch_and_watch

        worker = get_current_worker()
        record = launch_and_watch(self.ctx, request, lambda event: self.post_message(RunEvent(event)),
                                  lambda: worker.is_cancelled, self._started, validate)
        self.call_from_thread(self.notify, f"{record.run_id} ended {record.state.value}"
                              f"{': ' + record.failure_reason if record.failure_reason else ''}"
                              f" · {len(record.artifacts)} files verified",
                              severity="information" if record.state.value == "succeeded" else "error", timeout=10)

    def _started(self, run_id: str) -> None:
        self.launched.append(run_id)
        self.call_from_thread(self.switch_mode, "runs")

    def on_run_event(self, message: RunEvent) -> None:
        """Lifecycle events go to the Runs screen when it exists (it also reads the ledger on its own)."""
        runs = getattr(self, "runs_screen", None)
        if runs is not None:
            runs.post_message(RunEvent(message.event))

    def active_run(self, run_id: str, worker: Any):
        """The run as the lifecycle's ``ActiveRun``, with a clock the worker's cancellation interrupts."""
        from providers.registry import get_provider
        from remote_jobs.active import ActiveRun
        from tuneplan.tui.launching import CancellableClock

        ledger = self.ctx.open_ledger()
        record = ledger.find(run_id)
        clock = CancellableClock(self.ctx.clock, lambda: worker.is_cancelled)
        return ActiveRun(ledger, get_provider(record.provider), record, clock, self.ctx.runs_root(),
                         lambda event: self.post_message(RunEvent(event)))


def make_app(spec_path: Path | None = None, ledger_path: Path | None = None, runs_dir: Path | None = None,
             clock: Any = None, settings: Any = None, prices: list | None = None, machine: Any = None) -> TuneplanApp:
    """The app on ``spec_path`` (else the default job); every argument left out is what the CLI would use."""
    return TuneplanApp(build_context(spec_path, ledger_path, runs_dir, clock, settings, prices, machine))
