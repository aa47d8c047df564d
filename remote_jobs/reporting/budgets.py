"""Monthly budgets per project: spent, committed, remaining, and a warning line at 80 % and at 100 %.

Spent is the sum of the project's run lines in the period (so it matches the report's totals to the
cent). Committed is what its open runs will cost at their recorded rate until their estimated end
(``RunLine.committed_usd``). A period that is not one calendar month gets the monthly budget pro rata of
the days it covers. The warning reads spent + committed: a budget is in trouble as soon as money is
committed, not only once the bill arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from remote_jobs.reporting.text import usd as show_usd
from remote_jobs.reporting.lines import ZERO, RunLine, cents
from remote_jobs.reporting.period import Period

DEFAULT_WARN_PCT = Decimal(80)


@dataclass(frozen=True)
class BudgetLine:
    project: str
    monthly_usd: Decimal
    budget_usd: Decimal
    spent_usd: Decimal
    committed_usd: Decimal
    remaining_usd: Decimal
    used_pct: Decimal
    level: str  # "ok" | "warn" (at or past the warning share) | "over" (at or past 100 %)
    message: str


def budget_lines(lines: list[RunLine], budgets: Mapping[str, Decimal], period: Period,
                 warn_pct: Decimal = DEFAULT_WARN_PCT) -> list[BudgetLine]:
    """One line per budgeted project, in name order."""
    share = sum((fraction for _, fraction in period.month_fractions()), Decimal(0))
    return [_line(project, Decimal(monthly), share, [line for line in lines if line.record.project == project],
                  period, warn_pct) for project, monthly in sorted(budgets.items())]


def _line(project: str, monthly: Decimal, share: Decimal, lines: list[RunLine], period: Period,
          warn_pct: Decimal) -> BudgetLine:
    budget = cents(monthly * share) or ZERO
    spent = sum((line.cost_usd for line in lines if line.cost_usd is not None), ZERO)
    committed = sum((line.committed_usd for line in lines), ZERO)
    used = spent + committed
    used_pct = (used / budget * 100).quantize(Decimal("0.1")) if budget else Decimal(0)
    level = "over" if used >= budget else "warn" if used * 100 >= warn_pct * budget else "ok"
    return BudgetLine(project, monthly, budget, spent, committed, budget - used, used_pct, level,
                      _message(project, level, used_pct, budget, spent, committed, period))


def _message(project: str, level: str, used_pct: Decimal, budget: Decimal, spent: Decimal, committed: Decimal,
             period: Period) -> str:
    if level == "ok":
        return ""
    what = "over budget" if level == "over" else "past the warning line"
    return (f"{project}: {used_pct} % of its {show_usd(budget)} budget for {period.label} spent or committed "
            f"({show_usd(spent)} spent + {show_usd(committed)} committed), {what}")
