"""Asking the providers again for the bills of finished runs the ledger has none for.

Bills arrive late: RunPod bills in hourly buckets that settle after the pod is gone, and Modal's billing
report lags about an hour. The bill asked for at teardown is therefore usually not there yet, and the
ledger records rate × time. ``tuneplan bills`` (and nothing else: a report only reads the ledger) asks
again later and records what the providers now say, so finance sees billed against recorded.

A bill read within ``BILL_SETTLE_S`` of the teardown is provisional (RunPod's hourly buckets and Modal's report may
still move), and is asked for again; one read later is final and never asked for again. Every figure goes into
the ledger's bill history with when it arrived (``Ledger.update``), so a report of a closed month says what a
late bill changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from providers.base import Provider
from providers.types import ProviderError
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord


BILL_SETTLE_S = 24 * 3600.0


@dataclass(frozen=True)
class BillRead:
    run_id: str
    provider: str
    billed_usd: Decimal | None
    problem: str = ""
    final: bool = False


def waiting_for_a_bill(record: RunRecord) -> bool:
    """Torn down (its machine is gone, so the bill can grow no more) and no final bill recorded yet."""
    return (record.torn_down_at is not None and not record.bill_final and record.handle is not None
            and record.provider != "local")


def settled(record: RunRecord, now: datetime) -> bool:
    """Whether a bill read now is final: the provider's billing has had ``BILL_SETTLE_S`` since the teardown."""
    return record.torn_down_at is not None and (now - record.torn_down_at).total_seconds() >= BILL_SETTLE_S


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
        final = settled(record, ledger.clock.now())
        if billed is not None:
            ledger.update(record.run_id, billed_usd=billed, bill_final=final,
                          message=f"{'final' if final else 'provisional'} bill read from {record.provider}")
        reads.append(BillRead(record.run_id, record.provider, billed, final=final and billed is not None))
    return reads
