"""``tuneplan jobs | logs | watch | pull | down``: the runs in the ledger, and acting on one of them.

Every command here is safe to repeat: pulling twice verifies twice and copies once, tearing down twice is
not an error, watching a finished run just shows its outcome.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput
from tuneplan.cli.run_options import LEDGER_OPTION, RUN_ARG, RUNS_DIR_OPTION, attach, open_ledger


def jobs(
    run: Optional[str] = typer.Argument(None, help="One run (id, prefix or job name): everything recorded of it."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
    limit: int = typer.Option(20, "--limit", help="Newest runs to show."),
    state: list[str] = typer.Option([], "--state", help="Only runs in these states (repeatable)."),
    project: list[str] = typer.Option([], "--project", help="Only these projects (repeatable)."),
    provider: list[str] = typer.Option([], "--provider", help="Only these providers (repeatable)."),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="Ask the providers how open runs stand "
                                 "first (a few seconds at most)."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from providers.plain_text import one_line
    from remote_jobs.money import show_usd
    from tuneplan.cli.render_run import console, duration, print_details

    book = open_ledger(ledger)
    every = book.runs()
    if refresh:
        from remote_jobs.refresh import refresh_open_runs
        from tuneplan.cli.run_options import runs_root

        answers = refresh_open_runs(book, book.clock, runs_root(runs_dir), records=every)
        for run_id, what in answers.items():
            if not what.startswith("state "):
                sys.stderr.write(f"note: {run_id}: {what}\n")
        if answers:  # something may have moved on: read it again
            every = book.runs()
    if run is not None:
        record = book.find(run)
        if as_json:
            sys.stdout.write(json.dumps({**record.to_json(), "events": book.events(record.run_id)}, indent=2) + "\n")
        else:
            print_details(record, book.events(record.run_id))
        return
    records = _filtered(every, state, project, provider)[:max(limit, 0)]
    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in records], indent=2) + "\n")
        return
    if not records:
        console.print("no runs yet: tuneplan launch examples/tiny-smoke.yaml")
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, header_style="bold")
    for name in ("run (name-UTC time-tag)", "state", "where", "time", "estimate", "cost", "note"):
        table.add_column(name, justify="right" if name in ("time", "estimate", "cost") else "left",
                         no_wrap=name != "note")
    for r in records:
        took = sum(s for s in (r.provisioning_s, r.running_s) if s is not None) if r.finished else None
        note = one_line(r.failure_reason, 200) if r.failure_reason else (f"{len(r.artifacts)} artifacts" if r.artifacts else "")
        note += "" if r.torn_down_at or not r.finished else " · not torn down (tuneplan reap)"
        table.add_row(r.run_id, r.state.value, f"{r.provider}/{r.gpu}", duration(took), show_usd(r.estimate_usd),
                      show_usd(r.cost_usd), note)
    console.print(table)


def logs(
    run: str = RUN_ARG,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the run ends."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """The remote side wrote these bytes: they are printed without terminal escape sequences or control
    characters, so a log cannot move the cursor, retitle the window or write to the clipboard."""
    from providers.plain_text import plain

    active = attach(run, ledger, runs_dir)
    handle = active.record.handle
    if handle is not None and active.provider.status(handle).exists:
        for line in active.provider.logs(handle, follow=follow):
            sys.stdout.write(plain(line) + "\n")
            sys.stdout.flush()
        return
    saved = active.run_dir / "run.log"
    if not saved.is_file():
        raise BadInput(f"no logs for {active.run_id}: the machine is gone and none were saved")
    with saved.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            sys.stdout.write(plain(line.rstrip("\n")) + "\n")


def watch(
    run: str = RUN_ARG,
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from remote_jobs.watch import watch as follow
    from tuneplan.cli.launch_cmd import _finish
    from tuneplan.cli.render_run import LiveProgress

    with LiveProgress() as live:
        active = attach(run, ledger, runs_dir, live)
        record = follow(active, on_interrupt=_detach)  # Ctrl-C here only stops watching
        live.final(record)
    _finish(record)


def _detach() -> bool:
    return False


def pull(
    run: str = RUN_ARG,
    to: Optional[Path] = typer.Option(None, "--to", help="Also copy the verified artifacts into this folder "
                                      "(new or empty), checked again there."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """Unfinished runs are followed to their end (which pulls); finished ones are fetched again if needed."""
    from remote_jobs import finish
    from remote_jobs.artifacts import already_verified
    from tuneplan.cli.render_run import LiveProgress, console

    with LiveProgress() as live:
        active = attach(run, ledger, runs_dir, live)
        if not active.record.finished:
            from remote_jobs.watch import watch as follow

            live.print(f"{active.run_id} is still {active.record.state.value}: waiting for it to end, then pulling "
                       "and verifying its artifacts and tearing it down (Ctrl-C stops waiting; the run goes on)")
            live.final(follow(active, on_interrupt=_detach))
        elif already_verified(active.run_dir, active.record.artifacts):
            live.print(f"already pulled: {len(active.record.artifacts)} files verified in "
                                        f"{active.run_dir / 'artifacts'}")
            if to is not None:
                _copy_verified(active.run_dir / "artifacts", to)
                live.print(f"copied and verified again in {to}")
            return
        elif active.record.torn_down_at is not None:
            raise BadInput(f"{active.run_id}: the machine is gone, and its artifacts were never verified here")
        else:
            verified = finish.pull(active)
            if not verified.ok:
                raise BadInput(f"{active.run_id}: artifacts did not verify: {'; '.join(verified.problems[:3])}")
    record = active.refresh()
    console.print(f"{record.run_id}: {len(record.artifacts)} files verified in {active.run_dir / 'artifacts'}")
    if to is not None:
        _copy_verified(active.run_dir / "artifacts", to)
        console.print(f"copied and verified again in {to}")


def down(
    run: str = RUN_ARG,
    discard: bool = typer.Option(False, "--discard", help="Tear down without pulling the results or the latest "
                                 "checkpoint (they are lost)."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """Stop and tear down now. A job that already finished keeps its outcome and its pulled, verified artifacts;
    one still going is recorded as cancelled after its latest checkpoint is pulled (``tuneplan resume RUN``)."""
    from remote_jobs import finish
    from tuneplan.cli.render_run import PlainEvents, console, print_record

    with PlainEvents() as shown:
        active = attach(run, ledger, runs_dir, shown)
        record = finish.down(active, discard)
    print_record(record)
    console.print("torn down")


def _filtered(records: list, states: list[str], projects: list[str], providers: list[str]) -> list:
    from providers.types import RunState

    wanted_states = {s.strip().lower() for value in states for s in value.split(",") if s.strip()}
    known = {s.value for s in RunState}
    unknown = wanted_states - known
    if unknown:
        raise BadInput(f"--state {', '.join(sorted(unknown))}: states are {', '.join(sorted(known))}")
    wanted_projects = {p.strip() for value in projects for p in value.split(",") if p.strip()}
    wanted_providers = {p.strip().lower() for value in providers for p in value.split(",") if p.strip()}
    return [r for r in records if (not wanted_states or r.state.value in wanted_states)
            and (not wanted_projects or r.project in wanted_projects)
            and (not wanted_providers or r.provider in wanted_providers)]


def _copy_verified(artifacts: Path, to: Path) -> None:
    """The verified artifacts into ``to`` (refused when it holds anything: nothing of the user's is
    overwritten), then checked against their manifest there."""
    import shutil

    from remote_jobs.artifacts import verify_dir

    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise BadInput(f"--to {to}: not an empty folder; give a new or empty one (nothing is overwritten)")
    shutil.copytree(artifacts, to, dirs_exist_ok=True)
    checked = verify_dir(to)
    if not checked.ok:
        raise BadInput(f"the copy in {to} did not verify: {'; '.join(checked.problems[:3])}")
