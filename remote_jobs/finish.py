"""The end of a run, in the order that keeps the ledger true at every instant:
pull → verify → record the outcome → tear down → record the teardown (and the bill).

Recording the outcome before the teardown means a kill -9 between the two leaves a finished run whose
machine still exists, which ``reap`` ends; the reverse order could leave a running-looking run with no
machine. Teardown always runs: on success, failure, Ctrl-C and budget overrun. A second Ctrl-C during
teardown is held back until the teardown is done.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from decimal import Decimal
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from providers.log_lines import LINE_MAX_CHARS, SAVED_LOG_BYTES, last_lines
from providers.plain_text import one_line
from providers.private_files import write_private_text
from providers.pull_limits import PullLimits, configured_limits
from providers.types import ProviderError, RunState, RunStatus
from remote_jobs import failpoints
from remote_jobs.active import ActiveRun, provider_time
from remote_jobs.artifacts import (
    ARTIFACTS,
    CHECKPOINT,
    Verified,
    already_verified,
    latest_checkpoint,
    partial_dir,
    promote,
    verify_dir,
)
from remote_jobs.events import StateChanged
from remote_jobs.money import cost_for
from remote_jobs.overheads import billed_life_usd, tail_usd
from remote_jobs.records import RunRecord
from remote_jobs.run_facts import read_facts

FETCH_ATTEMPTS = 2


@contextmanager
def shielded() -> Iterator[None]:
    """Defer SIGINT while a teardown runs (main thread only), then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def pull(run: ActiveRun, limits: PullLimits | None = None) -> Verified:
    """Fetch and verify the artifacts into ``runs/<id>/artifacts`` (once more if the first copy is bad), within
    the pull limits (settings ``pulls``); the deadline covers every attempt."""
    if already_verified(run.run_dir, run.record.artifacts):
        return Verified(run.record.artifacts, [])
    handle = run.handle()
    if handle is None:
        return Verified([], ["no machine to pull from"])
    limits = (limits or configured_limits()).started()
    result = Verified([], ["not fetched"])
    for attempt in range(FETCH_ATTEMPTS):
        partial = partial_dir(run.run_dir)
        if attempt or run.record.state != RunState.PULLING:  # the state change already said "pulling"
            run.note("pulling artifacts" if not attempt else "pulling artifacts again")
        run.call(run.provider.fetch_artifacts, handle, partial, False, limits)
        failpoints.reached("fetched")
        result = verify_dir(partial)
        if result.ok:
            promote(partial, run.run_dir, ARTIFACTS)
            files = [{**f, "path": f"{ARTIFACTS}/{f['path']}"} for f in result.files]
            run.update(message=f"verified {len(files)} artifacts", artifacts=files)
            run.note(f"verified {len(files)} files (sha256) into {run.run_dir / ARTIFACTS}")
            return Verified(files, [])
        run.note(f"artifacts did not verify: {'; '.join(result.problems[:3])}")
        shutil.rmtree(partial, ignore_errors=True)
    return result


def settle(run: ActiveRun, status: RunStatus) -> RunRecord:
    """The provider says the job ended: pull (on success), record the outcome, tear down.

    From here on the machine goes whatever happens: a failure before ``close`` still closes the run (as
    failed, with the reason) before it is raised."""
    try:
        state, reason = _outcome(run, status)
    except Exception as exc:
        close(run, RunState.FAILED, f"finishing the run failed: {type(exc).__name__}: {one_line(exc)}", status)
        raise
    return close(run, state, reason, status)


def _outcome(run: ActiveRun, status: RunStatus) -> tuple[RunState, str | None]:
    """The run's final state and reason. A failed or limited run's latest checkpoint is pulled first (what
    was paid for is kept, and ``tuneplan resume`` continues from it)."""
    reason, state = status.error, status.state
    if state == RunState.SUCCEEDED:
        run.update(state=RunState.PULLING, message="job finished; pulling artifacts")
        verified = _pull_safely(run)
        if not verified.ok:
            state, reason = RunState.FAILED, "artifacts did not verify: " + "; ".join(verified.problems[:3])
        else:
            _note_push(run)
    elif state == RunState.BUDGET_STOPPED:
        reason = (reason or "hard runtime limit reached") + _keep_checkpoint(run)
    elif state == RunState.FAILED:
        reason = (reason or f"exit code {status.exit_code}") + _keep_checkpoint(run, only_if_kept=True)
    return state, reason


def stop(run: ActiveRun, state: RunState, reason: str, keep_checkpoint: bool = True) -> RunRecord:
    """End a run that is still going (Ctrl-C, budget overrun, ``tuneplan down``); its latest checkpoint is
    pulled first unless ``keep_checkpoint`` is False (``down --discard``)."""
    with shielded():
        if keep_checkpoint and run.handle() is not None:
            reason += _keep_checkpoint(run)
        return close(run, state, reason)


class KeptForSafety(BadInput):
    """``down`` would throw away a finished run's results: the machine is kept instead."""

    title = "kept"


def down(run: ActiveRun, discard: bool = False) -> RunRecord:
    """``tuneplan down``: ask the provider how the run stands first. A job that already finished is settled as
    it ended (its artifacts pulled and verified before the teardown); if they do not verify, the machine is
    kept and this refuses, unless ``discard``. A job still going is stopped (its checkpoint kept)."""
    if run.record.finished:
        teardown(run)
        return run.refresh()
    handle = run.handle()
    if handle is None:
        return close(run, RunState.CANCELLED, "stopped by tuneplan down before a machine was started")
    status = run.call(run.provider.status, handle)
    if not (status.exists and status.state.terminal):
        return stop(run, RunState.CANCELLED, "stopped by tuneplan down" + (" --discard" if discard else ""),
                    keep_checkpoint=not discard)
    if status.state == RunState.SUCCEEDED and discard:
        return close(run, RunState.CANCELLED, "finished, but discarded by tuneplan down --discard (not pulled)", status)
    if status.state == RunState.SUCCEEDED:
        run.update(state=RunState.PULLING, message="job finished; pulling artifacts before the teardown")
        verified = _pull_safely(run)
        if not verified.ok:
            raise KeptForSafety(f"{run.run_id} finished, but its artifacts did not verify "
                                f"({'; '.join(verified.problems[:2])}); the machine is kept so nothing is lost: "
                                f"`tuneplan pull {run.run_id}` to try again, `tuneplan down {run.run_id} --discard` "
                                "to tear it down anyway")
    return settle(run, status)


def _note_push(run: ActiveRun) -> None:
    """A Hub push is the job's second outcome: the adapter is safe here whatever happened to it."""
    push = read_facts(run.run_dir / ARTIFACTS).push
    if push is None:
        return
    if push["ok"]:
        run.note(f"pushed to the Hub: {push['url'] or push['repo']}")
    else:
        run.note(f"the push to the Hub ({push['repo']}) failed: {push['error']}; the adapter is safe in "
                 f"{run.run_dir / ARTIFACTS}; retry with: tuneplan push {run.run_id}")


def close(run: ActiveRun, state: RunState, reason: str | None, status: RunStatus | None = None) -> RunRecord:
    """Record the outcome (once, whoever gets there first), then tear down and record that.

    The teardown is in ``finally``: whatever fails while the log is saved or the outcome recorded (a full disk,
    a locked ledger), the machine still goes; the failure is raised after it."""
    with shielded():
        try:
            _save_logs(run)
            _record_end(run, state, reason, status)
        finally:
            teardown(run)
    record = run.refresh()
    _announce(run, record)
    return record


def _announce(run: ActiveRun, record) -> None:
    """Tell the webhook and the desktop, once per run, after the teardown; a failure is a note, never an error."""
    from remote_jobs.notify import announce_end

    try:
        problems = announce_end(run.ledger, record)
    except Exception as exc:  # noqa: BLE001 - a notification never turns a finished run into a failed command
        problems = [f"notification failed: {type(exc).__name__}"]
    for problem in problems:
        run.note(problem)


def teardown(run: ActiveRun) -> None:
    """Idempotent: ends the machine if there is one, then notes when and what the provider billed."""
    handle = run.record.handle or _find_handle(run)
    if handle is not None:
        run.call(run.provider.teardown, handle)
    billed = _bill(run, handle) if handle is not None else None
    changes = {} if run.record.torn_down_at else {"torn_down_at": run.clock.now()}
    if billed is not None:
        changes["billed_usd"] = billed
    if changes.get("torn_down_at") and run.record.finished:  # the machine billed until it went, not until the job ended
        life = billed_life_usd(replace(run.record, **changes), run.provider)
        if life is not None and life != run.record.actual_usd:
            changes["actual_usd"] = life
    if changes:
        run.update(message="torn down", **changes)
    run.note("machine torn down" if handle is not None else "nothing to tear down")


def _find_handle(run: ActiveRun):
    """The machine the provider holds for a run whose handle was never recorded. Where the provider cannot
    even be asked from here (no key, no SDK), no launch from here can have made one: the run is closed with
    that said, instead of staying "not torn down" for ever (``down``, ``reap`` and reports then agree)."""
    try:
        return run.handle()
    except ProviderError:
        ready = run.provider.ready_here()
        if ready.ok:
            raise  # the provider can be asked and did not answer: keep the run open, try again later
        run.update(message=f"no machine recorded for this run and {run.provider.name} cannot be asked from here "
                           f"({ready.message}): nothing to tear down; if it was launched from elsewhere, check "
                           f"{run.provider.name} there")
        return None


def _bill(run: ActiveRun, handle) -> Decimal | None:
    """The provider's bill, if it has one yet; a bill it cannot read is noted, not a failed teardown."""
    try:
        return run.call(run.provider.billed_cost, handle)
    except ProviderError as exc:
        run.update(message=f"the bill could not be read: {one_line(exc, 300)}")
        return None


def tracking_url(tracking: Any, artifacts: Path) -> str | None:
    """Where the run's tracking lives, for the ledger: the server's link, or the SQLite store that came home with
    the outputs (``mlflow ui --backend-store-uri`` opens it); None without tracking. Remote text: one line, bounded."""
    if not isinstance(tracking, dict) or not tracking.get("backend"):
        return None
    backend = one_line(tracking["backend"], 20)
    if tracking.get("url"):
        return one_line(f"{backend}: {tracking['url']}", 1000)
    if tracking.get("store_in_outputs") == "mlflow.db":
        where = f"sqlite:///{(artifacts / 'mlflow.db').resolve()}"
        return one_line(f"{backend}: {where} experiment {tracking.get('experiment_id')} run {tracking.get('run_id')}",
                        1000)
    if tracking.get("problem"):
        return one_line(f"{backend}: not recorded ({tracking['problem']})", 1000)
    return one_line(f"{backend}: {tracking.get('uri') or ''} run {tracking.get('run_id')}", 1000)


def _record_end(run: ActiveRun, state: RunState, reason: str | None, status: RunStatus | None) -> None:
    record, now = run.refresh(), run.clock.now()
    if record.finished:
        return
    reason = one_line(reason, 1000) if reason else None
    ended = provider_time(status.ended_at if status else None, record.started_at, now) or now
    total_s = run.elapsed_s(ended)
    provisioning_s = record.provisioning_s if record.provisioning_s is not None else 0.0
    facts = read_facts(run.run_dir / ARTIFACTS)
    changes = {"state": state, "ended_at": ended, "running_s": round(max(0.0, total_s - provisioning_s), 3),
               "provisioning_s": provisioning_s,
               "failure_reason": reason if state != RunState.SUCCEEDED else None,
               "actual_usd": (cost_for(record.price_usd_per_hour, total_s) + tail_usd(run.provider, record.spot)
                              if record.started_at else None),
               "tokens": facts.tokens, "metrics": facts.metrics, "versions": facts.versions, "push": facts.push,
               "tracking_url": tracking_url((facts.metrics or {}).get("tracking"), run.run_dir / ARTIFACTS)}
    run.ledger.update(run.run_id, only_if_open=True, message=reason or state.value, **changes)
    run.refresh()
    run.on_event(StateChanged(run.run_id, state.value, reason or ""))


def _pull_safely(run: ActiveRun) -> Verified:
    try:
        return pull(run)
    except Exception as exc:  # noqa: BLE001 - recorded as the run's failure; teardown must still run
        return Verified([], [f"fetch failed: {type(exc).__name__}: {one_line(exc, 300)}"])


def _keep_checkpoint(run: ActiveRun, only_if_kept: bool = False) -> str:
    """Fetch whatever the job left (checkpoints included) into ``runs/<id>/checkpoint``; say what was kept.
    With ``only_if_kept`` (a failed job, which may never have started) say nothing unless one was kept."""
    handle = run.handle()
    if handle is None:
        return ""
    partial = partial_dir(run.run_dir)
    try:
        run.call(run.provider.fetch_artifacts, handle, partial, True, configured_limits().started())
    except Exception as exc:  # noqa: BLE001 - a checkpoint is worth trying for; the teardown after it must run
        shutil.rmtree(partial, ignore_errors=True)
        return "" if only_if_kept else f"; no checkpoint kept ({type(exc).__name__}: {one_line(exc, 300)})"
    latest = latest_checkpoint(partial)
    if latest is None:
        shutil.rmtree(partial, ignore_errors=True)
        return "" if only_if_kept else "; no checkpoint had been written"
    kept = promote(partial, run.run_dir, CHECKPOINT)
    return f"; last checkpoint {latest.name} kept in {kept}"


def _save_logs(run: ActiveRun) -> None:
    """Keep the end of the job's log in ``runs/<id>/run.log``: the machine and its disk are about to go. Only
    the last ``SAVED_LOG_BYTES`` are kept (and read, where the provider can): the end explains a failure."""
    handle = run.record.handle
    if handle is None:
        return
    try:
        lines, dropped = last_lines(run.provider.logs(handle, follow=False, tail_bytes=SAVED_LOG_BYTES),
                                    SAVED_LOG_BYTES)
    except Exception as exc:  # noqa: BLE001 - the log is a courtesy; teardown right after it must still run
        run.update(message=f"could not save the log: {type(exc).__name__}: {one_line(exc, 200)}")
        return
    if lines:
        cut = dropped or sum(len(line) + 1 for line in lines) > SAVED_LOG_BYTES - LINE_MAX_CHARS
        head = [f"[tuneplan: only the last {SAVED_LOG_BYTES >> 20} MiB of this log are kept]"] if cut else []
        write_private_text(run.run_dir / "run.log", "\n".join(head + lines) + "\n")
