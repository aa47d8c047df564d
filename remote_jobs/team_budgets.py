"""Team budgets kept in the ledger: a dollar limit per project, per owner ('*': everyone) and per month
('YYYY-MM'; '*': every month). Every launch, from every machine that uses the ledger, checks what the team has
spent and committed against each budget that covers it before it starts.

Why the check sits inside the insert's transaction: two launches racing for the last dollars of a budget must
not both pass. The check takes the backend's lock for the project (PostgreSQL: a transaction-scoped advisory
lock; SQLite: ``BEGIN IMMEDIATE`` already holds the write lock), reads spent + committed, and inserts the new
run (whose estimate is then committed) before the lock is released. The second launch sees the first.

Spent and committed are counted exactly as the report counts them (``remote_jobs.reporting.allocate``: the
provider's bill, else rate × time including the idle time before teardown; an open run at its rate until its
estimated end; each in the month in which the machine was used), so ``budget list``, the launch check and the
report's budget lines agree; to the micro-dollar rather than the report's hundredth of a cent, so runs that cost
fractions of that (a local smoke run's electricity) still use up a budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from planner.errors import BadInput
from remote_jobs.clock import iso
from remote_jobs.ledger import Ledger
from remote_jobs.ledger_errors import BudgetExhausted
from remote_jobs.money import from_micros, show_usd, to_micros
from remote_jobs.records import RunRecord, from_row

EVERYONE = "*"
EVERY_MONTH = "*"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Budget:
    project: str
    owner: str
    month: str
    limit_usd: Decimal
    updated_at: str = ""
    updated_by: str = ""

    @property
    def scope(self) -> str:
        who = "everyone" if self.owner == EVERYONE else self.owner
        when = "every month" if self.month == EVERY_MONTH else self.month
        return f"{self.project} / {who} / {when}"


@dataclass(frozen=True)
class BudgetUse:
    """A budget and what the runs it covers have spent and committed (cents, as the report counts them)."""

    budget: Budget
    month: str
    spent_usd: Decimal
    committed_usd: Decimal

    @property
    def left_usd(self) -> Decimal:
        return self.budget.limit_usd - self.spent_usd - self.committed_usd


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def check_month(month: str) -> str:
    if month != EVERY_MONTH and not _MONTH.match(month):
        raise BadInput(f"--month is YYYY-MM (e.g. 2026-12) or '*' for every month, got {month!r}")
    return month


def set_budget(ledger: Ledger, project: str, usd: Decimal, owner: str = EVERYONE, month: str = EVERY_MONTH,
               by: str = "") -> Budget:
    """Create or change one budget (idempotent)."""
    if not project.strip():
        raise BadInput("a budget names its project")
    if usd <= 0:
        raise BadInput(f"a budget is a positive number of dollars, got {usd}")
    month, now = check_month(month), iso(ledger.clock.now())
    args = (project, owner or EVERYONE, month, to_micros(usd), now, by)
    ledger.transact(lambda conn: conn.execute(
        "INSERT INTO budgets (project, owner, month, limit_micro_usd, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (project, owner, month) DO UPDATE SET limit_micro_usd = excluded.limit_micro_usd, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by", args))
    return Budget(project, owner or EVERYONE, month, Decimal(usd), now, by)


def remove_budget(ledger: Ledger, project: str, owner: str = EVERYONE, month: str = EVERY_MONTH) -> bool:
    return ledger.transact(lambda conn: conn.execute(
        "DELETE FROM budgets WHERE project = ? AND owner = ? AND month = ?",
        (project, owner or EVERYONE, check_month(month))).rowcount > 0)


def list_budgets(ledger: Ledger) -> list[Budget]:
    return [_budget(row) for row in ledger.query("SELECT * FROM budgets ORDER BY project, owner, month")]


def _budget(row: dict[str, Any]) -> Budget:
    return Budget(str(row["project"]), str(row["owner"]), str(row["month"]),
                  from_micros(row["limit_micro_usd"]) or Decimal(0), str(row.get("updated_at") or ""),
                  str(row.get("updated_by") or ""))


def covering(budgets: list[Budget], project: str, owner: str, month: str) -> list[Budget]:
    """The budgets a run of ``owner`` in ``project`` during ``month`` counts against: the project's (everyone)
    and the owner's own, each the month's budget where one is set, else the every-month one."""
    chosen = (in_force(budgets, project, who, month) for who in dict.fromkeys((EVERYONE, owner)))
    return [budget for budget in chosen if budget is not None]


def in_force(budgets: list[Budget], project: str, owner: str, month: str) -> Budget | None:
    """The budget of ``project``/``owner`` for ``month``: the month's own where one is set, else every month's."""
    scoped = [b for b in budgets if b.project == project and b.owner == owner and b.month in (month, EVERY_MONTH)]
    return min(scoped, key=lambda b: b.month == EVERY_MONTH, default=None)


def project_budgets(ledger: Ledger, month: str | None) -> dict[str, Decimal]:
    """Each project's whole-team budget in force for ``month`` (None: a period that is not one month, so only
    the every-month budgets apply), in dollars."""
    budgets = [b for b in list_budgets(ledger) if b.owner == EVERYONE]
    chosen = (in_force(budgets, project, EVERYONE, month or EVERY_MONTH) for project in {b.project for b in budgets})
    return {b.project: b.limit_usd for b in chosen if b is not None}


def usage(budget: Budget, runs: list[RunRecord], month: str, now: datetime) -> BudgetUse:
    """What the runs that ``budget`` covers have spent and committed in ``month``."""
    from remote_jobs.money import MICRO
    from remote_jobs.reporting.allocate import ZERO, allocate

    start, end = month_bounds(month)
    mine = [r for r in runs if r.project == budget.project and (budget.owner == EVERYONE or r.owner == budget.owner)]
    shares = [allocate(r, now, unit=MICRO).share(start, end) for r in mine]
    spent = sum((share.cost for share in shares if share.cost is not None), ZERO)
    committed = sum((share.committed for share in shares), ZERO)
    return BudgetUse(budget, month, spent, committed)


def _month_runs(conn: Any, ledger: Ledger, project: str, month: str) -> list[RunRecord]:
    start, end = month_bounds(month)
    cursor = conn.execute("SELECT * FROM runs WHERE project = ? AND created_at < ? AND (created_at >= ? OR ended_at "
                          "IS NULL OR ended_at >= ? OR torn_down_at >= ?)", (project, iso(end), *[iso(start)] * 3))
    return [from_row(row) for row in ledger.backend.rows(cursor)]


def budget_guard(ledger: Ledger, record: RunRecord, allow_over: bool = False,
                 noted: Callable[[str], None] | None = None) -> Callable[[Any], None]:
    """The check ``Ledger.create`` runs in the insert's own transaction (see the module docstring)."""

    def guard(conn: Any) -> None:
        now = ledger.clock.now()
        month = month_of(record.created_at or now)
        budgets = [_budget(row) for row in ledger.backend.rows(conn.execute(
            "SELECT * FROM budgets WHERE project = ? AND month IN (?, ?)", (record.project, month, EVERY_MONTH)))]
        chosen = covering(budgets, record.project, record.owner, month)
        if not chosen:
            return
        ledger.backend.lock(conn, f"budget:{record.project}")
        runs = _month_runs(conn, ledger, record.project, month)
        for budget in chosen:
            use = usage(budget, runs, month, now)
            cost = record.estimate_usd or Decimal(0)
            if cost > use.left_usd:
                left = (f"has {show_usd(use.left_usd)} left" if use.left_usd >= 0
                        else f"is already over by {show_usd(-use.left_usd)}")
                message = (f"the {budget.scope} budget of {show_usd(budget.limit_usd)} {left} for {month} "
                           f"({show_usd(use.spent_usd)} spent + {show_usd(use.committed_usd)} "
                           f"committed across the team); this run is estimated at {show_usd(cost)}")
                if not allow_over:
                    raise BudgetExhausted(f"{message}: nothing was started. Raise it (tuneplan budget set "
                                          f"{budget.project} USD) or pass --allow-over-budget")
                if noted is not None:
                    noted(f"launched over budget (--allow-over-budget): {message}")

    return guard


def budget_report(ledger: Ledger, now: datetime, month: str | None = None) -> list[BudgetUse]:
    """Every budget that applies in ``month`` (default: this one) with its spent and committed."""
    month = month or month_of(now)
    budgets = [b for b in list_budgets(ledger) if b.month in (month, EVERY_MONTH)]
    runs = ledger.runs_in_use(*month_bounds(month)) if budgets else []  # one read; usage() keeps each budget's runs
    scopes = sorted({(b.project, b.owner) for b in budgets})
    return [usage(in_force(budgets, project, owner, month), runs, month, now) for project, owner in scopes]


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[first instant of ``month``, first instant of the next) in UTC."""
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=timezone.utc)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end
