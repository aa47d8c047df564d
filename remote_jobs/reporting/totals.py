"""Totals over report lines, and grouping lines by one or several dimensions.

Every money total is the plain sum of the lines' amounts (hundredths of a cent, see ``lines``), never a figure
recomputed from micro-dollars, so a total and its lines always agree. Run counts count runs, not lines: a run with
a line in October and one in November is one run of a quarter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from planner.errors import BadInput
from planner.suggest import did_you_mean
from remote_jobs.reporting.lines import ZERO, RunLine, error_pct

# What ``--by`` accepts: the ledger field (or derived value) each dimension reads.
DIMENSIONS: dict[str, Callable[[RunLine], str]] = {
    "project": lambda line: line.record.project or "-",
    "owner": lambda line: line.record.owner or "-",
    "provider": lambda line: line.record.provider or "-",
    "gpu": lambda line: line.record.gpu or "-",
    "task": lambda line: line.record.task or "-",
    "cloud": lambda line: line.record.cloud or "-",
    "state": lambda line: line.record.state.value,
    "month": lambda line: line.month,
}


TAG_PREFIX = "tag:"


def dimension(name: str) -> Callable[[RunLine], str]:
    """The value a line has in one ``--by`` dimension: a ledger field, or ``tag:KEY`` for the spec's tag KEY."""
    if name.startswith(TAG_PREFIX):
        key = name[len(TAG_PREFIX):]
        return lambda line: str((line.record.tags or {}).get(key) or "-")
    return DIMENSIONS[name]


def check_dimensions(names: Sequence[str]) -> tuple[str, ...]:
    """The ``--by`` names, validated (unknown ones get a "did you mean"), duplicates dropped."""
    out: list[str] = []
    for name in names:
        if name.startswith(TAG_PREFIX):
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name[len(TAG_PREFIX):]):
                raise BadInput(f"--by {name!r}: a tag is tag:KEY with the key as the spec's tags: name it (tag:cost_center)")
        elif name not in DIMENSIONS:
            raise BadInput(f"--by must be one of {', '.join(DIMENSIONS)} or tag:KEY (a key of the spec's tags), got "
                           f"{name!r}{did_you_mean(name, DIMENSIONS)}")
        if name not in out:
            out.append(name)
    return tuple(out)


def _money(lines: Sequence[RunLine], pick: Callable[[RunLine], Decimal | None]) -> Decimal:
    return sum((value for value in map(pick, lines) if value is not None), ZERO)


@dataclass(frozen=True)
class Totals:
    """Sums over some lines. Money in hundredths of a cent; hours and GPU-hours as floats (rounded to 0.0001 h)."""

    runs: int
    unfinished: int
    hours: float
    gpu_hours: float
    tokens: int
    estimate_hours: float
    estimate_usd: Decimal
    recorded_usd: Decimal
    billed_usd: Decimal
    billed_delta_usd: Decimal
    billed_runs: int
    cost_usd: Decimal
    committed_usd: Decimal
    failed_usd: Decimal
    failed_runs: int
    provisioning_usd: Decimal
    idle_usd: Decimal
    waste_usd: Decimal
    delta_usd: Decimal
    """Cost minus estimate, summed over the finished runs that have both (the lines' ``delta_usd``)."""
    compared_estimate_usd: Decimal
    """The estimates of those same runs: ``delta_usd`` against it is the error in %."""

    @property
    def finished(self) -> int:
        return self.runs - self.unfinished

    @property
    def usd_error_pct(self) -> float | None:
        """Cost against estimate over the finished runs that have both; open runs are shown apart."""
        if not self.compared_estimate_usd:
            return None
        return error_pct(self.compared_estimate_usd + self.delta_usd, self.compared_estimate_usd)


def add_up(lines: Sequence[RunLine]) -> Totals:
    wasted = [line for line in lines if line.wasted]
    return Totals(
        runs=len({line.record.run_id for line in lines}),
        unfinished=len({line.record.run_id for line in lines if not line.record.finished}),
        hours=round(sum(line.hours or 0.0 for line in lines), 4),
        gpu_hours=round(sum(line.gpu_hours for line in lines), 4),
        tokens=sum(line.tokens or 0 for line in lines),
        estimate_hours=round(sum(line.estimate_hours or 0.0 for line in lines), 4),
        estimate_usd=_money(lines, lambda line: line.estimate_usd),
        recorded_usd=_money(lines, lambda line: line.recorded_usd),
        billed_usd=_money(lines, lambda line: line.billed_usd),
        billed_delta_usd=_money(lines, lambda line: line.billed_delta_usd),
        billed_runs=len({line.record.run_id for line in lines if line.billed_usd is not None}),
        cost_usd=_money(lines, lambda line: line.cost_usd),
        committed_usd=_money(lines, lambda line: line.committed_usd),
        failed_usd=_money(wasted, lambda line: line.cost_usd), failed_runs=len({line.record.run_id for line in wasted}),
        provisioning_usd=_money(lines, lambda line: line.provisioning_usd),
        idle_usd=_money(lines, lambda line: line.idle_usd),
        waste_usd=_money(lines, lambda line: line.waste_usd),
        delta_usd=_money(lines, lambda line: line.delta_usd),
        compared_estimate_usd=_money(lines, lambda line: line.estimate_usd if line.delta_usd is not None else None),
    )


@dataclass(frozen=True)
class Group:
    """The lines that share one value per grouping dimension (``key`` holds one value per dimension)."""

    key: tuple[str, ...]
    totals: Totals

    @property
    def label(self) -> str:
        return " / ".join(self.key)


def group_lines(lines: Iterable[RunLine], dimensions: Sequence[str]) -> list[Group]:
    """Groups in key order; empty when there are no dimensions."""
    if not dimensions:
        return []
    buckets: dict[tuple[str, ...], list[RunLine]] = {}
    getters = [dimension(name) for name in dimensions]
    for line in lines:
        buckets.setdefault(tuple(getter(line) for getter in getters), []).append(line)
    return [Group(key, add_up(buckets[key])) for key in sorted(buckets)]
