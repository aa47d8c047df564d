"""The cheapest rented price for each GPU of a plan, so the Plan screen can say dollars next to hours.

It prices with the recommender's own ``cloud_cost`` (GPU hours + boot + download + disk) over the same
price rows, on demand, for the plan's GPU count: the same dollars ``tuneplan recommend`` would show for
that card. Every quote keeps its price source and as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Quote:
    usd: Decimal
    usd_per_hour: Decimal
    where: str
    source: str
    as_of: date
    approx: bool


def cheapest_quotes(plan: dict[str, Any], rows: list | tuple, params_total: int) -> dict[str, Quote]:
    """GPU name → its cheapest on-demand run, for every GPU in the plan that fits and has a price."""
    from planner.recommend.costs import cloud_cost

    by_card: dict[tuple[str, int], list] = {}
    for row in rows:
        by_card.setdefault((row.gpu, row.gpus), []).append(row)
    quotes: dict[str, Quote] = {}
    for gpu, fit in plan["fits"].items():
        if not fit["fits"]:
            continue
        for row in by_card.get((gpu, fit["gpus"]), ()):
            cost = cloud_cost(row, False, fit["hours"], params_total)
            total = cost.total.quantize(Decimal("0.01"))
            if gpu not in quotes or total < quotes[gpu].usd:
                where = f"{row.launcher}/{row.cloud}" if row.cloud != row.launcher else row.launcher
                offering = row.offering.removesuffix("-cloud")
                quotes[gpu] = Quote(total, cost.usd_per_hour, f"{where} {offering}".strip(), row.source,
                                    row.as_of, row.approx)
    return quotes
