"""What a run costs beyond "the machine's rate × the job's duration".

Two things the first ledger left out (issue 23, item 6): what a provider bills besides the machine (the
SkyPilot jobs controller VM a spot run needs, which also bills for its idle minutes after the run), and the
machine's own life after the job ends: it bills until our teardown, or until it ends itself (a cluster's
autodown after its idle minutes), whichever is first. The estimate counts the first; the ledger counts both.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from providers.base import Provider
from providers.types import Overhead, RunHandle
from remote_jobs.money import cost_for


def with_overheads(estimate, overheads: list[Overhead]):
    """The launch estimate with each overhead's rate added, its tail in the total, and its source named."""
    if not overheads:
        return estimate
    rate = sum((o.usd_per_hour for o in overheads), Decimal(0))
    extra = sum(((o.usd_per_hour * Decimal(repr(estimate.hours)) + o.usd_per_hour * Decimal(repr(o.tail_s)) / 3600)
                 for o in overheads), Decimal(0))
    named = "; ".join(f"+ {o.what} ${o.usd_per_hour}/h ({o.source})" for o in overheads)
    return replace(estimate, usd_per_hour=estimate.usd_per_hour + rate, usd=(estimate.usd + extra).quantize(Decimal("0.000001")),
                   price_source=f"{estimate.price_source} {named}")


def tail_usd(provider: Provider, spot: bool) -> Decimal:
    """What the overheads bill after the run ended (the jobs controller's idle minutes)."""
    return sum((o.tail_usd for o in provider.overheads(spot)), Decimal(0))


def machine_end(provider: Provider, handle: RunHandle | None, ended_at: datetime, torn_down_at: datetime) -> datetime:
    """When the run's machine stopped billing: our teardown, or earlier if it ended itself."""
    after = provider.ends_itself_after_s(handle) if handle is not None else None
    if after is None:
        return max(ended_at, torn_down_at)
    return max(ended_at, min(torn_down_at, ended_at + timedelta(seconds=after)))


def billed_life_usd(record, provider: Provider) -> Decimal | None:
    """Rate × (start → the machine's end) + the overheads' tails; None before the run has started and ended."""
    if record.started_at is None or record.ended_at is None or record.torn_down_at is None:
        return None
    end = machine_end(provider, record.handle, record.ended_at, record.torn_down_at)
    life = cost_for(record.price_usd_per_hour or Decimal(0), (end - record.started_at).total_seconds()) or Decimal(0)
    return life + tail_usd(provider, record.spot)
