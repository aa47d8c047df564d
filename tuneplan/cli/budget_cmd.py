"""``tuneplan budget``: team budgets kept in the ledger (project / owner / month, in dollars). Every launch, from
every machine that shares the ledger, checks spent + committed against them before it starts
(``remote_jobs.team_budgets``)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Optional

import typer

from tuneplan.cli.run_options import LEDGER_OPTION

budget_app = typer.Typer(help="Team budgets in the ledger: set, list, rm. Launches check them before starting.",
                         no_args_is_help=True, add_completion=False, rich_markup_mode=None)
OWNER = typer.Option("*", "--owner", help="One person's budget inside the project ('*': the whole project).")
MONTH = typer.Option("*", "--month", help="YYYY-MM for one month ('*': every month).")


@budget_app.command("set", help="Set a budget: tuneplan budget set search 1200 [--owner ana] [--month 2026-12].")
def set_(project: str = typer.Argument(..., help="The project (a spec's `project`)."),
         usd: str = typer.Argument(..., help="Dollars for the month."),
         owner: str = OWNER, month: str = MONTH, ledger: Optional[str] = LEDGER_OPTION) -> None:
    from planner.errors import BadInput
    from providers.identity import host_id
    from remote_jobs.money import show_usd
    from remote_jobs.team_budgets import set_budget
    from tuneplan.cli.render_run import console
    from tuneplan.cli.run_options import open_ledger

    try:
        amount = Decimal(usd.strip().lstrip("$"))
    except InvalidOperation:
        raise BadInput(f"a budget is a number of dollars, got {usd!r}") from None
    book = open_ledger(ledger)
    budget = set_budget(book, project, amount, owner, month, by=host_id())
    when = "a month" if budget.month == "*" else f"for {budget.month}"
    console.print(f"budget {budget.scope}: {show_usd(budget.limit_usd)} {when} in {book.shown}", markup=False)


@budget_app.command("list", help="Budgets with this month's spent, committed and what is left.")
def list_(month: Optional[str] = typer.Option(None, "--month", help="YYYY-MM (default: this month)."),
          ledger: Optional[str] = LEDGER_OPTION, as_json: bool = typer.Option(False, "--json")) -> None:
    from remote_jobs.money import show_usd
    from remote_jobs.team_budgets import budget_report, check_month
    from tuneplan.cli.render_run import console
    from tuneplan.cli.run_options import clock, open_ledger

    at = clock()
    book = open_ledger(ledger, at)
    uses = budget_report(book, at.now(), check_month(month) if month else None)
    if as_json:
        print(json.dumps([{"project": u.budget.project, "owner": u.budget.owner, "month": u.month,
                           "limit_usd": str(u.budget.limit_usd), "spent_usd": str(u.spent_usd),
                           "committed_usd": str(u.committed_usd), "left_usd": str(u.left_usd)} for u in uses]))
        return
    if not uses:
        console.print("no budgets in the ledger: tuneplan budget set PROJECT USD", markup=False)
        return
    for u in uses:
        left = f"{show_usd(u.left_usd)} left" if u.left_usd >= 0 else f"over by {show_usd(-u.left_usd)}"
        console.print(f"{u.budget.scope}: {show_usd(u.budget.limit_usd)}; {u.month}: {show_usd(u.spent_usd)} spent + "
                      f"{show_usd(u.committed_usd)} committed, {left}", markup=False)


@budget_app.command("rm", help="Remove a budget (the same project / --owner / --month it was set with).")
def rm(project: str = typer.Argument(...), owner: str = OWNER, month: str = MONTH,
       ledger: Optional[str] = LEDGER_OPTION) -> None:
    from planner.errors import NotFound
    from remote_jobs.team_budgets import remove_budget
    from tuneplan.cli.render_run import console
    from tuneplan.cli.run_options import open_ledger

    if not remove_budget(open_ledger(ledger), project, owner, month):
        raise NotFound(f"no budget for {project} / {owner} / {month}: tuneplan budget list shows them")
    console.print(f"removed the budget for {project} / {owner} / {month}", markup=False)
