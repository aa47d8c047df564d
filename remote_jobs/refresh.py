"""Asking the providers how the open runs stand, once, within a time bound: what ``tuneplan jobs`` and the
TUI's Runs screen do so a run launched with ``--detach`` does not read "provisioning" until someone runs
``watch``.

Only what a poll of ``watch`` records is recorded (the state the provider reports, when provisioning ended,
the machine it launched); a run that has finished is left for ``watch``/``pull`` to settle, because settling
pulls artifacts and tears the machine down, which is no side effect of listing runs. Each provider call runs
in its own thread; whatever has not answered when the time is up is left as it was (and says so).
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

from remote_jobs.active import ActiveRun
from remote_jobs.clock import Clock
from remote_jobs.ledger import Ledger

REFRESH_TIMEOUT_S = 8.0
MAX_PARALLEL = 8


def refresh_open_runs(ledger: Ledger, clock: Clock, runs_root: Path, timeout_s: float = REFRESH_TIMEOUT_S,
                      get_provider=None, records: list | None = None) -> dict[str, str]:
    """run id -> what happened ("state running", "finished: watch to pull", "no answer", an error) for every
    run that is not finished and has a machine (among ``records`` where the caller has read them already)."""
    if get_provider is None:
        from providers.registry import get_provider
    open_runs = [r for r in (ledger.runs() if records is None else records) if not r.finished and r.handle is not None]
    if not open_runs:
        return {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(open_runs)))
    futures = {pool.submit(_refresh_one, ledger, clock, runs_root, record, get_provider): record.run_id
               for record in open_runs}
    done, pending = concurrent.futures.wait(futures, timeout=timeout_s)
    pool.shutdown(wait=False, cancel_futures=True)  # a provider that hangs is not waited for
    outcome = {futures[f]: "no answer in time" for f in pending}
    for future in done:
        try:
            outcome[futures[future]] = future.result()
        except Exception as exc:  # noqa: BLE001 - one provider's trouble is that run's note, not the listing's
            outcome[futures[future]] = f"could not ask: {type(exc).__name__}"
    return outcome


def _refresh_one(ledger: Ledger, clock: Clock, runs_root: Path, record, get_provider) -> str:
    ledger = Ledger(ledger.location, clock)  # this thread's own connection
    run = ActiveRun(ledger, get_provider(record.provider), record, clock, runs_root, lambda event: None)
    status = run.call(run.provider.status, run.handle())
    if not status.exists:
        return "the machine is gone: `tuneplan watch` settles it"
    run.observe(status, only_forward=True)
    if status.state.terminal:
        return f"finished ({status.state.value}): `tuneplan watch {record.run_id}` pulls and tears down"
    return f"state {status.state.value}"
