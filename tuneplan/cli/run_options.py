"""What the run commands (launch, jobs, logs, watch, pull, down, reap, report) share: where the ledger and
the fetched runs live, the clock, and turning a run id into a live ``ActiveRun``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from remote_jobs.events import EventSink, ignore

RUN_ARG = typer.Argument(..., help="A run id, a unique prefix of one, or a job name (its newest run).")
LEDGER_OPTION = typer.Option(None, "--ledger", help="The ledger: a file or a postgresql:// URL (default: "
                             "TUNEPLAN_LEDGER_URL, TUNEPLAN_LEDGER, settings' ledger_url, else the user data dir).")
RUNS_DIR_OPTION = typer.Option(None, "--runs-dir",
                               help="Where runs/<run-id>/ go (default: TUNEPLAN_RUNS_DIR, else the user data dir).")


def runs_root(flag: Optional[Path]) -> Path:
    if flag is not None:
        return flag
    override = os.environ.get("TUNEPLAN_RUNS_DIR")
    if override:
        return Path(override)
    from providers.paths import data_dir

    return data_dir() / "runs"


def clock():
    from remote_jobs.clock import default_clock

    return default_clock()


def open_ledger(path: Optional[str | Path], at=None):
    from remote_jobs.ledger import Ledger

    return Ledger(path, at or clock())


def open_existing_ledger(flag: Optional[str | Path], at=None, hint: str = "a report never creates one"):
    """The ledger a read-only command reads: a ``--ledger`` file that is not there is a mistake, not a new ledger."""
    from planner.errors import BadInput
    from remote_jobs.ledger_location import resolve_location

    location = resolve_location(flag)
    if flag is not None and location.path is not None and not location.path.exists():
        raise BadInput(f"no ledger at {location.path}: check the --ledger path ({hint})")
    return open_ledger(location, at)


def attach(run: str, ledger_path: Optional[str], runs_dir: Optional[Path], on_event: EventSink = ignore):
    """The run called ``run`` (an id, a unique prefix, or a job name for its newest run), ready to act on."""
    from providers.registry import get_provider
    from remote_jobs.active import ActiveRun

    at = clock()
    ledger = open_ledger(ledger_path, at)
    record = ledger.find(run)
    return ActiveRun(ledger, get_provider(record.provider), record, at, runs_root(runs_dir), on_event)
