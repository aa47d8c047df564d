"""Watching a run until it ends: status, progress, cost against the budget, then the end of the story.

Used right after a launch and by ``tuneplan watch RUN`` to re-attach after the launching CLI was closed
or killed: everything it needs is in the ledger and at the provider. What Ctrl-C means is the caller's
choice (``on_interrupt``): watching a run launched earlier only detaches (the run goes on, with its hard
runtime limit, and ``tuneplan down RUN`` stops it), while Ctrl-C during a launch may stop the run, which is
then torn down after its latest checkpoint is pulled.
"""

from __future__ import annotations

from collections.abc import Callable

from planner.errors import TuneplanError
from providers.types import RunState
from remote_jobs import failpoints, finish
from remote_jobs.active import ActiveRun
from remote_jobs.events import CostUpdate, Progress
from remote_jobs.money import show_usd
from remote_jobs.records import RunRecord

POLL_S = 1.0
# While nothing changes (a long provisioning, a step that takes minutes) the polls space out, up to
# MAX_BACKOFF × poll_s: each status is a few API requests, and a cloud's API is not to be hammered.
BACKOFF = 1.5
MAX_BACKOFF = 8


class Detached(TuneplanError):
    """Watching stopped, the run goes on (Ctrl-C while re-attached, or the TUI closing)."""

    title = "detached"
    exit_code = 130


def stop_it() -> bool:
    return True


def watch(run: ActiveRun, poll_s: float = POLL_S, on_interrupt: Callable[[], bool] = stop_it) -> RunRecord:
    """Follow ``run`` to its end; returns the final record. On Ctrl-C, ``on_interrupt()`` decides: True stops
    the run (checkpoint kept, torn down, recorded as cancelled); False detaches (``Detached``)."""
    if run.record.finished:
        return _tidy_finished(run)
    if run.handle() is None:
        return finish.close(run, RunState.FAILED, "the launch was interrupted before a machine was started")
    follower = Follower(run, poll_s)
    try:
        while (record := follower.poll()) is None:
            run.clock.sleep(follower.wait_s)
        return record
    except KeyboardInterrupt:
        if not _asked(on_interrupt):
            raise Detached(f"stopped watching; {run.run_id} goes on (hard runtime limit "
                           f"{_limit(run)}): `tuneplan watch {run.run_id}` to follow it again, "
                           f"`tuneplan down {run.run_id}` to stop it") from None
        finish.stop(run, RunState.CANCELLED, "interrupted (Ctrl-C); torn down")
        raise


class Follower:
    """One launched run followed one look at a time: ``watch`` looks, sleeps ``wait_s`` and looks again; a sweep
    (``remote_jobs.sweep``) takes turns between several."""

    def __init__(self, run: ActiveRun, poll_s: float = POLL_S):
        self.run, self.poll_s, self.wait_s = run, poll_s, poll_s
        self.handle = run.handle()
        self.last_step, self.reported_watching, self.seen = None, False, None

    def poll(self) -> RunRecord | None:
        """Look once: the final record when the run ended (budget stop included), else None and the next wait."""
        run = self.run
        status = run.call(run.provider.status, self.handle)
        if not status.exists:
            return finish.close(run, RunState.UNKNOWN, "the machine was gone when tuneplan looked "
                                "(ended by its runtime limit, or by hand); its artifacts are lost")
        run.observe(status)
        self.last_step = _report_progress(run, status.progress, self.last_step)
        cost = run.cost_so_far()
        run.on_event(CostUpdate(run.run_id, run.elapsed_s(), cost, run.record.max_total_usd))
        if status.state.terminal:
            return finish.settle(run, status)
        if run.over_budget(cost):
            reason = (f"budget: {show_usd(cost)} spent, over the max_total_usd cap of "
                      f"{show_usd(run.record.max_total_usd)}")
            return finish.stop(run, RunState.BUDGET_STOPPED, reason, keep_checkpoint=True)
        if status.state == RunState.RUNNING and not self.reported_watching:
            failpoints.reached("watching")
            self.reported_watching = True
        now_seen = (status.state, self.last_step)
        self.wait_s = self.poll_s if now_seen != self.seen else min(self.wait_s * BACKOFF, self.poll_s * MAX_BACKOFF)
        self.seen = now_seen
        return None


def _asked(on_interrupt: Callable[[], bool]) -> bool:
    """The caller's answer; a second Ctrl-C while it asks means "leave it running" (the hard limit holds)."""
    try:
        return on_interrupt()
    except (KeyboardInterrupt, EOFError):
        return False


def _limit(run: ActiveRun) -> str:
    seconds = run.record.max_runtime_s
    return "unknown" if seconds is None else f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _report_progress(run: ActiveRun, progress: dict | None, last_step: int | None) -> int | None:
    if not progress or progress.get("step") == last_step:
        return last_step
    step = _int(progress.get("step"))
    run.on_event(Progress(run.run_id, step or 0, _int(progress.get("total_steps")), _float(progress.get("loss")),
                          _float(progress.get("eta_s")), _float(progress.get("epoch")), _float(progress.get("reward")),
                          _float(progress.get("reward_std"))))
    return progress.get("step")


def _tidy_finished(run: ActiveRun) -> RunRecord:
    """A finished run whose teardown was never recorded (the CLI died just before): tear down now."""
    if run.record.torn_down_at is None:
        finish.teardown(run)
    return run.refresh()


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
