"""Sweeps from the command line: ``tuneplan launch SPEC`` with a ``sweep:`` section (or ``--sweep lora.r=8,16``)
shows one plan with every point and the total, asks once, runs the points a few at a time and ends with their
metrics side by side; ``tuneplan sweep show ID`` prints that table again from the ledger.

The steps live in ``remote_jobs.sweep``; this module shows them and asks the question.
"""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer
from rich.table import Table

from planner.errors import BadInput
from remote_jobs.events import Event, Note, StateChanged
from remote_jobs.money import show_usd
from tuneplan.cli.output import console, styled
from tuneplan.cli.render_run import duration
from tuneplan.cli.run_options import LEDGER_OPTION, clock, open_ledger

sweep_app = typer.Typer(help="A sweep's runs side by side.", no_args_is_help=True)


def launch_sweep(job, path, provider, at, max_hours, learned, book, root, answers, parallel: Optional[int],
                 asked: dict | None = None) -> None:
    """Plan every point, refuse what a single launch would refuse, confirm once, run them, show the table.
    ``asked``: what the command line changed of the spec (recorded with each run, beside its sweep point)."""
    from remote_jobs import launch as steps
    from remote_jobs import sweep as sweeps

    plan = sweeps.prepare_sweep(job, path, provider, at, max_hours, learned, parallel)
    for request in plan.requests:
        request.overrides = {**(asked or {}), **request.overrides}
    print_plan(plan)
    problems = []
    for point, request in zip(plan.points, plan.requests, strict=True):
        try:
            steps.refuse_over_budget(request, answers.allow_over_budget)
        except BadInput as exc:
            problems.append(f"point {point.number} ({point.label}): {exc}")
    if book is not None and not problems:
        try:
            sweeps.check_team_budget(plan, book, answers.allow_over_budget)
        except BadInput as exc:
            problems.append(f"the whole sweep ({show_usd(plan.total_usd)}): {exc}")
    if problems and not answers.dry_run:
        raise BadInput("; ".join(problems))
    for problem in problems:
        console.print(styled(("note:", "yellow"), f" a real launch would refuse this: {problem}"))
    if answers.dry_run:
        console.print("dry run: nothing was started or recorded")
        return
    from tuneplan.cli.launch_cmd import check_credentials

    for request in {r.provider.name: r for r in plan.requests}.values():
        check_credentials(request)
    _confirm(plan, answers.yes)
    bundles = []
    for number, request in enumerate(plan.requests, start=1):
        console.print(f"bundling point {number}/{len(plan.requests)}" + (" and checking it with the template's "
                                                                        "--validate-only" if answers.validate else ""))
        bundles.append(steps.bundle_and_validate(request, root, answers.validate))
    labels = {r.run_id: f"s{p.number}" for p, r in zip(plan.points, plan.requests, strict=True)}
    result = sweeps.run_sweep(plan, bundles, book, book.clock, root, SweepEvents(labels), _ask_to_stop)
    from remote_jobs.sweep_results import row_of

    rows = [row_of(o.point.number, o.point.values, o.request.run_id, o.record, o.problem) for o in result.outcomes]
    print_rows(plan.sweep_id, rows)
    if not result.all_succeeded:
        from tuneplan.cli.launch_cmd import RunDidNotSucceed

        failed = sum(1 for row in rows if row.state != "succeeded")
        raise RunDidNotSucceed(f"{failed} of {len(rows)} runs of sweep {plan.sweep_id} did not succeed")


def print_plan(plan) -> None:
    wheres = [f"{r.provider.name}: {r.estimate.device}" + (f" ×{r.estimate.gpus}" if r.estimate.gpus > 1 else "")
              for r in plan.requests]
    same = len(set(wheres)) == 1
    console.print(styled((f"Sweep plan: {len(plan.requests)} runs", "bold"),
                         f" ({plan.sweep_id})" + (f" on {wheres[0]}" if same else "")))
    table = Table()
    columns = ("#", "values", "estimate", "cost") if same else ("#", "values", "where", "estimate", "cost")
    for column in columns:
        table.add_column(column, justify="left" if column in ("values", "where") else "right")
    for point, request, where in zip(plan.points, plan.requests, wheres, strict=True):
        est = request.estimate
        cells = (duration(est.hours * 3600), show_usd(est.usd))
        table.add_row(str(point.number), point.label, *(cells if same else (where, *cells)))
    console.print(table)
    first = plan.requests[0]
    console.print(styled(("total", "bold"), f" {show_usd(plan.total_usd)} for {duration(plan.run_hours * 3600)} of "
                         f"runs; {plan.parallel} at a time, about {duration(plan.wall_hours * 3600)} from start to end"))
    console.print(f"price: {first.estimate.price_source} · as of {first.estimate.price_as_of}; each run keeps its own "
                  "max_total_usd cap and hard runtime limit")
    for note in dict.fromkeys(n for r in plan.requests for n in r.notes):
        console.print(styled(("note:", "yellow"), f" {note}"))


def print_rows(sweep_id: str, rows, as_json: bool = False) -> None:
    from remote_jobs.sweep_results import best, metric_columns

    names, winner = metric_columns(rows), best(rows)
    if as_json:
        sys.stdout.write(json.dumps({"sweep": sweep_id, "best": winner, "runs": [
            {"point": r.number, "values": r.values, "run_id": r.run_id, "state": r.state, "hours": r.hours,
             "cost_usd": None if r.cost_usd is None else str(r.cost_usd), "metrics": r.metrics, "problem": r.problem}
            for r in rows]}, indent=2) + "\n")
        return
    console.print(styled((f"Sweep {sweep_id}", "bold"), f": {len(rows)} runs"))
    table = Table()
    for column in ("#", "values", "state", "time", "cost", *names):
        table.add_column(column, justify="left" if column in ("values", "state") else "right")
    for row in rows:
        marks = " (best)" if row.number == winner else ""
        table.add_row(f"{row.number}{marks}", _label(row.values), row.state,
                      duration(row.hours * 3600) if row.hours is not None else "-", show_usd(row.cost_usd),
                      *(f"{row.metrics[n]:.4g}" if n in row.metrics else "-" for n in names))
    console.print(table)
    for row in rows:
        if row.problem:
            console.print(styled((f"s{row.number}:", "yellow"), f" {row.run_id}: {row.problem}"))
    if winner is not None:
        console.print(f"best: point {winner} (lowest {'eval_loss' if 'eval_loss' in names else 'train_loss'})")


@sweep_app.command("show", help="A sweep's runs side by side, from the ledger: values, state, time, cost, metrics.")
def show(sweep: str = typer.Argument(..., metavar="SWEEP", help="The sweep id (or its start: the latest such)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
         ledger: Optional[str] = LEDGER_OPTION) -> None:
    from remote_jobs.sweep_results import rows_from_ledger

    chosen, rows = rows_from_ledger(open_ledger(ledger, clock()).checked(), sweep)
    print_rows(chosen, rows, as_json)


class SweepEvents:
    """State changes and notes of every run of the sweep, each line led by its point (s1, s2…)."""

    def __init__(self, labels: dict[str, str]):
        self.labels = labels

    def __call__(self, event: Event) -> None:
        who = self.labels.get(event.run_id, event.run_id)
        if isinstance(event, StateChanged):
            console.print(styled((f"{who}", "bold"), f" · {event.state}" + (f": {event.message}" if event.message else "")))
        elif isinstance(event, Note):
            console.print(styled((f"{who}", "dim"), f"   {event.message}"))


def _label(values: dict) -> str:
    from planner.sweep import label

    return label(values)


def _confirm(plan, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInput("not asking on a non-interactive input: add --yes to launch the sweep")
    if not typer.confirm(f"Launch {len(plan.requests)} runs, {plan.parallel} at a time, for about "
                         f"{show_usd(plan.total_usd)}?", default=True):
        raise typer.Abort()


def _ask_to_stop() -> bool:
    if not sys.stdin.isatty():
        return True
    return typer.confirm("\nStop the sweep's running runs and tear their machines down (checkpoints kept)? "
                         "No leaves them running under their hard limits", default=False)
