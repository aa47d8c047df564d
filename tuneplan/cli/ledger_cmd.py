"""``tuneplan ledger``: where the ledger is (``where``), copying a history into another ledger (``copy --to``,
a laptop's file into the team's PostgreSQL, idempotently) and checking one (``check``). The rules are in
``remote_jobs.ledger_move``; URLs are shown with their password masked."""

from __future__ import annotations

import json
from typing import Optional

import typer

from tuneplan.cli.run_options import LEDGER_OPTION

ledger_app = typer.Typer(help="Where the ledger is, copying a history into a team ledger, checking one.",
                         no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@ledger_app.command("where", help="Which ledger this command line uses (file or masked URL) and its schema.")
def where(ledger: Optional[str] = LEDGER_OPTION, as_json: bool = typer.Option(False, "--json")) -> None:
    from tuneplan.cli.render_run import console
    from tuneplan.cli.run_options import open_ledger

    book = open_ledger(ledger)
    facts = {"kind": book.location.kind, "ledger": book.shown, "schema": book.version}
    if as_json:
        print(json.dumps(facts))
        return
    console.print(f"{facts['kind']} ledger: {facts['ledger']} (schema {facts['schema']})", markup=False)


@ledger_app.command("copy", help="Copy every run, event and budget of this ledger into --to (idempotent).")
def copy(
    to: str = typer.Option(..., "--to", help="The ledger to copy into: a postgresql:// URL or a file."),
    ledger: Optional[str] = LEDGER_OPTION,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from planner.errors import BadInput
    from remote_jobs.ledger_move import copy_ledger
    from tuneplan.cli.render_run import console
    from tuneplan.cli.run_options import open_existing_ledger, open_ledger

    source = open_existing_ledger(ledger, hint="copy reads it, it never creates one")
    target = open_ledger(to)
    if source.identity == target.identity:
        raise BadInput(f"{source.shown} is already the ledger --to names: nothing to copy")

    def progress(done: int, total: int) -> None:
        if not as_json:
            console.print(f"  {done}/{total} runs", markup=False)

    result = copy_ledger(source, target, progress)
    facts = {"from": source.shown, "to": target.shown, "runs_copied": result.runs_copied,
             "runs_already_there": result.runs_already_there, "events_copied": result.events_copied,
             "budgets_copied": result.budgets_copied}
    if as_json:
        print(json.dumps(facts))
        return
    console.print(f"copied {result.runs_copied} runs ({result.events_copied} events) and {result.budgets_copied} "
                  f"budgets from {source.shown} to {target.shown}; {result.runs_already_there} runs were already "
                  "there", markup=False)


@ledger_app.command("check", help="Check the ledger's store and content; exit 1 with what is wrong and how to recover.")
def check(ledger: Optional[str] = LEDGER_OPTION, as_json: bool = typer.Option(False, "--json")) -> None:
    from planner.errors import BadInput
    from remote_jobs.ledger_errors import LedgerDamaged
    from remote_jobs.ledger_move import check_ledger
    from tuneplan.cli.render_run import console
    from tuneplan.cli.run_options import open_existing_ledger

    try:
        book = open_existing_ledger(ledger, hint="check reads it, it never creates one")
    except LedgerDamaged as exc:
        raise BadInput(str(exc)) from None
    result = check_ledger(book)
    if as_json:
        print(json.dumps({"ledger": book.shown, "ok": result.ok, "runs": result.runs, "events": result.events,
                          "problems": result.problems, "recovery": result.recovery}))
    elif result.ok:
        console.print(f"{book.shown}: sound ({result.runs} runs, {result.events} events, schema {book.version})",
                      markup=False)
    else:
        console.print(f"{book.shown}: {len(result.problems)} problem(s)", markup=False)
        for line in result.problems:
            console.print(f"  {line}", markup=False)
        if result.recovery:
            console.print(f"to recover: {result.recovery}", markup=False)
    if not result.ok:
        raise typer.Exit(1)
