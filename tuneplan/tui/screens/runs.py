"""The Runs screen: the ledger as a table (state, provider, GPU, elapsed, cost so far against the estimate);
the highlighted run's log tail and progress bar under it; pull, stop/tear down and open its folder.

Everything that touches the ledger, a provider or the disk runs in a worker: the table is re-read every
``POLL_S``, the log tail of the highlighted run every ``TAIL_S``, and the handlers only draw what the
workers post. Workers never block for long, so closing the app never waits on a run: a run launched here
keeps going and ``tuneplan watch RUN`` re-attaches to it.
"""

from __future__ import annotations

import time
from decimal import Decimal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from tuneplan.tui.screens.base import TuneplanScreen
from textual.widgets import DataTable, Footer, Header, Label, Log, ProgressBar, Static
from textual.worker import get_current_worker

from remote_jobs.money import show_usd
from providers.log_lines import last_lines
from tuneplan.tui.formatting import elapsed_text, plain_cell
from tuneplan.tui.messages import ActionDone, LogLines, RunEvent, RunsLoaded
from tuneplan.tui.screens.dialogs import ConfirmDialog

POLL_S = 1.0
REFRESH_S = 15.0  # how often open runs are asked of their providers (in a worker, bounded in time)
COLUMNS = ("run", "state", "provider", "GPU", "elapsed", "cost so far", "estimate", "note")
NARROW_COLUMNS = ("run", "state", "GPU", "elapsed", "cost so far")
TAIL_S = 1.0
TAIL_LINES = 400
TAIL_BYTES = 256 * 1024  # what the log pane reads each time: the end of the log, never all of it


class RunsScreen(TuneplanScreen):
    """The ledger, live."""

    TITLE = "Runs"
    BINDINGS = [
        Binding("p", "pull", "Pull", tooltip="Fetch and verify the run's artifacts (waits for a running run)"),
        Binding("x", "stop", "Stop / tear down", tooltip="Stop the run and delete its machine"),
        Binding("o", "open_folder", "Open folder", tooltip="Open the run's output folder"),
        Binding("l", "toggle_raw", "Raw log", tooltip="The log as the job wrote it, or as progress lines"),
    ]

    def __init__(self) -> None:
        super().__init__(id="runs-screen")
        self.records: list = []
        self.selected: str | None = None
        self._log_count = 0
        self.raw = False  # the log as written (protocol lines, library warnings) instead of readable lines
        self._lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        with Vertical(id="run-detail"):
            with Horizontal(id="run-progress-row"):
                yield Label("", id="run-title", markup=False)
                yield ProgressBar(id="run-progress", show_eta=False)
            yield Static("", id="run-facts", markup=False)
            yield Log(id="run-log", max_lines=TAIL_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.app.runs_screen = self
        self._set_columns()
        self.load_runs()
        self.set_interval(POLL_S, self.load_runs)
        self.refresh_open()
        self.set_interval(REFRESH_S, self.refresh_open)

    @work(thread=True, exclusive=True, exit_on_error=False, group="refresh")
    def refresh_open(self) -> None:
        """Runs launched elsewhere (``--detach``, another terminal) move on here too: their providers are asked
        how they stand, never blocking the screen; the next ledger read shows it."""
        from remote_jobs.refresh import refresh_open_runs

        ctx = self.app.ctx
        refresh_open_runs(ctx.open_ledger(), ctx.clock, ctx.runs_root())

    # --- the ledger ----------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="ledger")
    def load_runs(self) -> None:
        self.post_message(RunsLoaded(self.app.ctx.open_ledger().runs()))

    def _set_columns(self) -> None:
        """All columns on a wide terminal; at 80 the provider, estimate and note give way (the lines under
        the table have the note in full)."""
        self.set_columns("#runs-table", COLUMNS, NARROW_COLUMNS)

    def width_changed(self) -> None:
        self._set_columns()
        self.load_runs()

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.records = message.records
        table = self.query_one("#runs-table", DataTable)
        keep = self.selected
        table.clear()
        now = self.app.ctx.clock.now()
        keys = [str(column.key.value) for column in table.ordered_columns]
        for record in self.records:
            cells = dict(zip(COLUMNS, _row(record, now), strict=True))
            table.add_row(*(cells[key] for key in keys), key=record.run_id)
        if keep is not None and keep in {r.run_id for r in self.records}:
            table.move_cursor(row=table.get_row_index(keep))
        elif self.records and self.selected is None:
            self._select(self.records[0].run_id)
        self._show_facts()

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self._select(event.row_key.value)

    def _select(self, run_id: str) -> None:
        self.selected = run_id
        self._log_count = 0
        self.query_one("#run-log", Log).clear()
        self.query_one("#run-progress", ProgressBar).update(total=None, progress=0)
        self._show_facts()
        self.tail(run_id)

    def record(self, run_id: str | None = None):
        wanted = run_id or self.selected
        return next((r for r in self.records if r.run_id == wanted), None)

    def _show_facts(self) -> None:
        record = self.record()
        if record is None:
            self.query_one("#run-title", Label).update("no runs yet: pick an option (F3) and press Enter to launch")
            return
        self.query_one("#run-title", Label).update(f"{record.run_id} · {record.state.value}")
        place = self.app.ctx.runs_root() / record.run_id
        artifacts = f"{len(record.artifacts)} artifacts verified in {place / 'artifacts'}" if record.artifacts else ""
        torn = "torn down" if record.torn_down_at else ("machine still held" if record.finished else "")
        facts = [f for f in (record.failure_reason or "", artifacts, torn) if f]
        self.query_one("#run-facts", Static).update(" · ".join(facts))

    # --- the log tail and progress -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="tail")
    def tail(self, run_id: str) -> None:
        """Re-read the run's output every ``TAIL_S`` and post the new lines, until the run is over."""
        worker = get_current_worker()
        sent = 0
        while not worker.is_cancelled:
            lines, live = _read_output(self.app.ctx, run_id)
            if len(lines) < sent:
                sent = 0
            if lines[sent:]:
                self.post_message(LogLines(run_id, lines[sent:][-TAIL_LINES:], replace=sent == 0))
                sent = len(lines)
            if not live:
                return
            _nap(TAIL_S, worker)

    def on_log_lines(self, message: LogLines) -> None:
        if message.run_id != self.selected:
            return
        log = self.query_one("#run-log", Log)
        if message.replace:
            log.clear()
            self._lines = []
        self._lines = (self._lines + list(message.lines))[-TAIL_LINES:]
        log.write_lines(message.lines if self.raw else readable_lines(message.lines))
        self._progress_from(message.lines)

    def action_toggle_raw(self) -> None:
        self.raw = not self.raw
        log = self.query_one("#run-log", Log)
        log.clear()
        log.write_lines(self._lines if self.raw else readable_lines(self._lines))
        self.notify("raw log" if self.raw else "readable log (l: raw)", timeout=2)

    def _progress_from(self, lines: list[str]) -> None:
        from providers.protocol import parse_line

        done = None
        for line in reversed(lines):
            parsed = parse_line(line)
            if parsed is None:
                continue
            kind, payload = parsed
            if kind == "DONE":
                done = done or payload
                continue
            total = payload.get("total_steps")
            if isinstance(total, int) and total > 0:
                self._advance(total, int(payload.get("step", 0)))
            break
        if done is not None and done.get("ok"):  # a run that ended early (a limit, a failure) keeps its step
            bar = self.query_one("#run-progress", ProgressBar)
            bar.update(total=bar.total or 1, progress=bar.total or 1)

    def _advance(self, total: int, step: int) -> None:
        """Move the bar forward only: the log and the watcher's events report the same steps at different times."""
        bar = self.query_one("#run-progress", ProgressBar)
        if bar.total != total or step >= bar.progress:
            bar.update(total=total, progress=step)

    def on_run_event(self, message: RunEvent) -> None:
        event = message.event
        if type(event).__name__ == "Progress" and event.run_id == self.selected and event.total_steps:
            self._advance(event.total_steps, event.step)

    # --- actions ---------------------------------------------------------------------------------------------
    def action_pull(self) -> None:
        if self.selected:
            self.notify(f"pulling {self.selected} …", markup=False)
            self._pull(self.selected)

    @work(thread=True, exit_on_error=False, group="actions")
    def _pull(self, run_id: str) -> None:
        from remote_jobs import finish
        from remote_jobs.artifacts import already_verified
        from remote_jobs.watch import watch

        active = self.app.active_run(run_id, get_current_worker())
        if not active.record.finished:
            record = watch(active)
            self.post_message(ActionDone(f"{run_id} ended {record.state.value}; {len(record.artifacts)} files verified"))
            return
        if already_verified(active.run_dir, active.record.artifacts):
            self.post_message(ActionDone(f"already pulled: {len(active.record.artifacts)} files verified"))
            return
        verified = finish.pull(active)
        if verified.ok:
            self.post_message(ActionDone(f"{run_id}: {len(active.refresh().artifacts)} files verified"))
        else:
            self.post_message(ActionDone(f"{run_id}: did not verify: {'; '.join(verified.problems[:2])}", "error"))

    def action_stop(self) -> None:
        record = self.record()
        if record is None:
            return
        question = (f"Stop {record.run_id} and tear its machine down?" if not record.finished
                    else f"Tear down what {record.run_id} still holds (its results stay here)?")

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop(record.run_id)
        self.app.push_screen(ConfirmDialog(question, "Stop"), answered)

    @work(thread=True, exit_on_error=False, group="actions")
    def _stop(self, run_id: str) -> None:
        from providers.types import RunState
        from remote_jobs import finish

        active = self.app.active_run(run_id, get_current_worker())
        if active.record.finished:
            finish.teardown(active)
        else:
            finish.stop(active, RunState.CANCELLED, "stopped from the TUI")
        self.post_message(ActionDone(f"{run_id}: stopped and torn down"))

    def action_open_folder(self) -> None:
        if self.selected:
            self._open(self.app.ctx.runs_root() / self.selected)

    @work(thread=True, exit_on_error=False, group="actions")
    def _open(self, folder) -> None:
        import shutil
        import subprocess
        import sys

        import os

        target = folder / "artifacts" if (folder / "artifacts").is_dir() else folder
        opener = "open" if sys.platform == "darwin" else "xdg-open"
        desktop = sys.platform == "darwin" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if not target.exists():
            self.post_message(ActionDone(f"nothing here yet: {target}", "warning"))
        elif shutil.which(opener) is None or not desktop:  # over SSH or in a container: say where it is
            self.post_message(ActionDone(f"output folder: {target}"))
        else:
            subprocess.Popen([opener, str(target)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.post_message(ActionDone(f"opened {target}"))

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.message, severity=message.severity, timeout=6, markup=False)
        self.load_runs()


NOISE = ("warnings.warn(", "UserWarning:", "FutureWarning:", "DeprecationWarning:")


def readable_lines(lines: list[str]) -> list[str]:
    """The log for a person: progress lines as "step 790/3000 · loss 1.234", the end as one line, library
    warnings left out (``l`` shows the log as written)."""
    from providers.protocol import parse_line

    out = []
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            if not any(mark in line for mark in NOISE):
                out.append(line)
            continue
        kind, payload = parsed
        if kind == "DONE":
            out.append("done" if payload.get("ok") else f"ended: {payload.get('error') or 'failed'}")
            continue
        parts = [f"step {payload.get('step', '?')}" + (f"/{payload['total_steps']}" if payload.get("total_steps") else "")]
        for key, label, fmt in (("loss", "loss", "{:.4g}"), ("eval_loss", "eval loss", "{:.4g}"),
                                ("tokens_per_s", "tok/s", "{:,.0f}"), ("epoch", "epoch", "{:.2f}")):
            if isinstance(payload.get(key), (int, float)):
                parts.append(f"{label} {fmt.format(payload[key])}")
        out.append(" · ".join(parts))
    return out


def _row(record, now) -> tuple:
    if record.finished or record.started_at is None:
        seconds = sum(s for s in (record.provisioning_s, record.running_s) if s is not None) if record.finished else None
    else:
        seconds = (now - record.started_at).total_seconds()
    cost = record.cost_usd
    if cost is None and seconds is not None and record.price_usd_per_hour is not None:
        cost = (record.price_usd_per_hour * Decimal(str(round(seconds / 3600, 6)))).quantize(Decimal("0.01"))
    gpu = f"{record.gpus}× {record.gpu}" if record.gpus and record.gpu else (record.gpu or "—")
    note = record.failure_reason or (f"{len(record.artifacts)} files" if record.artifacts else "")
    return (plain_cell(record.run_id), record.state.value, plain_cell(record.provider), plain_cell(gpu),
            elapsed_text(seconds), show_usd(cost), show_usd(record.estimate_usd), plain_cell(note))


def _read_output(ctx, run_id: str) -> tuple[list[str], bool]:
    """(the run's output lines, is it still going) — from the provider while it runs, else the saved log."""
    from providers.registry import get_provider

    record = ctx.open_ledger().find(run_id)
    if record.handle is not None and not record.finished:
        provider = get_provider(record.provider)
        if provider.status(record.handle).exists:
            return list(provider.logs(record.handle, follow=False, tail_bytes=TAIL_BYTES)), True
    saved = ctx.runs_root() / run_id / "run.log"
    lines = last_lines(saved.read_text(encoding="utf-8", errors="replace").splitlines(), TAIL_BYTES)[0] \
        if saved.is_file() else []
    return lines, not record.finished


def _nap(seconds: float, worker) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not worker.is_cancelled:
        time.sleep(0.05)
