"""Unit figures and estimate accuracy: the numbers that say whether a price or an estimate can be trusted.

Unit costs are ratios of the report's totals (cost per run, per GPU-hour by provider and GPU, per million
training tokens). Accuracy compares estimate and actual only on runs that succeeded: a failed or stopped
run ending early says nothing about the estimator. A run is compared whole (all of its cost and hours) in the
month it finished in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from statistics import median

from providers.types import RunState
from remote_jobs.reporting.lines import UNIT, RunLine, error_pct, to_unit
from remote_jobs.reporting.totals import add_up, group_lines

WITHIN_PCT = 25.0


def _ratio(usd: Decimal, amount: float | int) -> Decimal | None:
    return (usd / Decimal(repr(amount))).quantize(UNIT, rounding=ROUND_HALF_UP) if amount else None


@dataclass(frozen=True)
class UnitCost:
    """One provider × GPU: its runs, GPU-hours, cost, and what one GPU-hour / one million tokens cost."""

    provider: str
    gpu: str
    runs: int
    gpu_hours: float
    cost_usd: Decimal
    usd_per_gpu_hour: Decimal | None
    tokens: int
    usd_per_million_tokens: Decimal | None


@dataclass(frozen=True)
class Units:
    usd_per_run: Decimal | None
    usd_per_gpu_hour: Decimal | None
    usd_per_million_tokens: Decimal | None
    by_provider_gpu: list[UnitCost]


def unit_costs(lines: list[RunLine]) -> Units:
    """Over finished runs with a cost; tokens only where the run reported them."""
    costed = [line for line in lines if line.cost_usd is not None]
    rows = []
    for group in group_lines(costed, ("provider", "gpu")):
        members = [line for line in costed if (line.record.provider or "-", line.record.gpu or "-") == group.key]
        rows.append(_unit_row(group.key, members))
    total = add_up(costed)
    tokens_usd, tokens = _token_spend(costed)
    return Units(to_unit(total.cost_usd / total.runs) if total.runs else None,
                 _ratio(_gpu_spend(costed), total.gpu_hours), _ratio(tokens_usd * 1_000_000, tokens), rows)


def _gpu_spend(lines: list[RunLine]) -> Decimal:
    return sum((line.cost_usd for line in lines if line.gpu_hours and line.cost_usd is not None), Decimal(0))


def _token_spend(lines: list[RunLine]) -> tuple[Decimal, int]:
    """(the whole cost of the runs that reported tokens, their tokens): counted on each run's final line, so a run
    that crossed a month boundary is priced per token on all of its cost."""
    with_tokens = [line for line in lines if line.tokens]
    return (sum((line.run_cost_usd for line in with_tokens if line.run_cost_usd is not None), Decimal(0)),
            sum(line.tokens or 0 for line in with_tokens))


def _unit_row(key: tuple[str, ...], lines: list[RunLine]) -> UnitCost:
    totals = add_up(lines)
    tokens_usd, tokens = _token_spend(lines)
    return UnitCost(key[0], key[1], totals.runs, totals.gpu_hours, totals.cost_usd,
                    _ratio(_gpu_spend(lines), totals.gpu_hours), tokens, _ratio(tokens_usd * 1_000_000, tokens))


@dataclass(frozen=True)
class Accuracy:
    """Estimate against actual on succeeded runs: totals, the error of the totals, and the spread."""

    runs: int
    estimate_usd: Decimal
    actual_usd: Decimal
    usd_error_pct: float | None
    usd_median_abs_error_pct: float | None
    usd_within_pct: float | None
    estimate_hours: float
    actual_hours: float
    hours_error_pct: float | None
    hours_median_abs_error_pct: float | None
    hours_within_pct: float | None
    within: float = WITHIN_PCT


def accuracy(lines: list[RunLine]) -> Accuracy:
    compared = [line for line in lines if line.record.state == RunState.SUCCEEDED and line.run_cost_usd is not None
                and line.estimate_usd is not None]
    usd_errors = [e for e in (line.usd_error_pct for line in compared) if e is not None]
    timed = [line for line in compared if line.run_hours is not None and line.estimate_hours]
    hour_errors = [e for e in (line.hours_error_pct for line in timed) if e is not None]
    estimate_usd = sum((line.estimate_usd for line in compared), Decimal("0.00"))
    actual_usd = sum((line.run_cost_usd for line in compared), Decimal("0.00"))
    estimate_h = round(sum(line.estimate_hours or 0.0 for line in timed), 4)
    actual_h = round(sum(line.run_hours or 0.0 for line in timed), 4)
    return Accuracy(len(compared), estimate_usd, actual_usd, error_pct(actual_usd, estimate_usd), *_spread(usd_errors),
                    estimate_h, actual_h, error_pct(actual_h, estimate_h), *_spread(hour_errors))


def _spread(errors: list[float]) -> tuple[float | None, float | None]:
    """(median |error| %, share of runs within ±25 % in %)."""
    if not errors:
        return None, None
    within = sum(1 for e in errors if abs(e) <= WITHIN_PCT) / len(errors) * 100
    return round(median(abs(e) for e in errors), 1), round(within, 1)
