"""``tuneplan resume RUN``: a new run that continues a stopped one from the checkpoint kept when it stopped,
on the same provider or another (``--provider``); the ledger links the two (``resumed_from``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tuneplan.cli.launch_cmd import LaunchAnswers, run_request
from tuneplan.cli.run_options import LEDGER_OPTION, RUN_ARG, RUNS_DIR_OPTION, clock, open_ledger, runs_root


def resume(
    run: str = RUN_ARG,
    provider: Optional[str] = typer.Option(None, "--provider", help="Where to continue (default: where it ran)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before launching."),
    allow_over_budget: bool = typer.Option(False, "--allow-over-budget",
                                           help="Launch even when the estimate exceeds resources.max_total_usd."),
    max_hours: Optional[float] = typer.Option(None, "--max-hours", help="Hard runtime limit of the new run."),
    detach: bool = typer.Option(False, "--detach", help="Return once launched; `tuneplan watch RUN` later."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from providers.registry import get_provider
    from remote_jobs import launch as steps
    from remote_jobs.resume import kept_checkpoint, recorded_job, resume_bundle

    at, root = clock(), runs_root(runs_dir)
    book = open_ledger(ledger, at).checked()
    old = book.find(run)
    checkpoint = kept_checkpoint(old, root)
    spec, job_json = recorded_job(old, root)
    request = steps.prepare(spec, job_json, get_provider(provider or old.provider), at, max_hours)
    request.resumed_from = old.run_id
    request.overrides = {k: v for k, v in {"resume": old.run_id, "provider": provider, "max_hours": max_hours}.items()
                         if v}
    request.notes.insert(0, f"continues {old.run_id} from its {checkpoint.name} (the estimate is for the whole job)")

    def build(folder: Path):
        return resume_bundle(old, root, checkpoint, request.run_id, folder)

    run_request(request, book, root, LaunchAnswers(yes, allow_over_budget, True, detach), build)
