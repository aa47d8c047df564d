"""Asking the providers again for the bills of finished runs the ledger has none for.

Bills arrive late: RunPod bills in hourly buckets that settle after the pod is gone, and Modal's billing
report lags about an hour. The bill asked for at teardown is therefore usually not there yet, and the
ledger records rate × time. ``tuneplan bills`` (and nothing else: a report only reads the ledger) asks
again later and records what the providers now say, so finance sees billed against recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from providers.base import Provider
from providers.types import ProviderError
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord


@dataclass(frozen=True)
class BillRead:
    run_id: str
    provider: str
    billed_usd: Decimal | None
    problem: str = ""


def waiting_for_a_bill(record: RunRecord) -> bool:
    """Torn down (its machine is gone, so the bill can only grow no more) and no bill recorded yet."""
    return (record.torn_down_at is not None and record.billed_usd is None and record.handle is not None
            and record.provider != "local")


def refresh_bills(ledger: Ledger, providers: dict[str, Provider]) -> list[BillRead]:
    """Ask each run's provider for its bill; record the ones that came. One provider's failure is reported
    on its runs and does not stop the others."""
    reads = []
    for record in ledger.runs():
        provider = providers.get(record.provider)
        if provider is None or not waiting_for_a_bill(record):
            continue
        try:
            billed = provider.billed_cost(record.handle, ended_at=record.torn_down_at)
        except ProviderError as exc:
            reads.append(BillRead(record.run_id, record.provider, None, " ".join(str(exc).split())))
            continue
        if billed is not None:
            ledger.update(record.run_id, billed_usd=billed, message=f"bill read from {record.provider}")
        reads.append(BillRead(record.run_id, record.provider, billed))
    return reads
