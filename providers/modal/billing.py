"""What Modal billed for a run, from Modal's own billing report, and the rates behind our offers.

The report (``Workspace.billing.report``) attributes cost to Apps with their tags; our Apps carry the run id
as a tag, so the run's bill is the sum of the rows with that tag. Its rows are whole hours: the SDK leaves
out a partial final interval (``end`` is exclusive and "partial final intervals will be excluded",
modal/_workspace.py), and the figures arrive some time after the hour. A sum asked for too early is short,
and finance prefers a billed figure over our own, so a report figure is returned only once the report can
cover the hour the run ended in, plus ``REPORT_LAG``; before that, and when the workspace offers no report,
there is no bill (None), and the ledger keeps its rate × time. Our own arithmetic is never returned as a
bill.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from providers.types import TAG_RUN

MICRO = Decimal("0.000001")
HOUR = timedelta(hours=1)
REPORT_LAG = timedelta(hours=1)   # assumed: Modal does not document how late an hour's rows arrive
CLOCK_SKEW = timedelta(minutes=5)  # our clock against Modal's, on both ends of the window


def report_window(launched_at: float, ended_at: float) -> tuple[datetime, datetime]:
    """The whole hours (UTC) that hold every second the run could have been billed for: [start, end)."""
    start = _floor_hour(datetime.fromtimestamp(launched_at, timezone.utc) - CLOCK_SKEW)
    end = _floor_hour(datetime.fromtimestamp(ended_at, timezone.utc) + CLOCK_SKEW) + HOUR
    return start, end


def reported_cost(run_tag: str, launched_at: float, ended_at: float, now: float) -> Decimal | None:
    """The sum of Modal's hourly billing rows tagged with ``run_tag`` (the run id as the App's tag), or None:
    the report cannot cover the run's last hour yet, the workspace gives no report, or it has no row."""
    import modal
    import modal.exception

    start, end = report_window(launched_at, ended_at)
    if datetime.fromtimestamp(now, timezone.utc) < end + REPORT_LAG:
        return None
    try:
        rows = modal.Workspace.from_context().billing.report(start=start, end=end, resolution="h", tag_names=[TAG_RUN])
    except (modal.exception.Error, OSError):
        return None
    costs = [Decimal(row.cost) for row in rows if row.tags.get(TAG_RUN) == run_tag and start <= row.interval_start < end]
    return sum(costs, Decimal(0)).quantize(MICRO) if costs else None


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def rates(canonical_gpu: str, gpus: int, cpu_cores: float, memory_gib: int) -> dict[str, str]:
    """The per-hour rates a Modal container is charged at (Decimal strings) and the GPU price's source."""
    from planner.catalog.prices import snapshot
    from planner.recommend.costs import MODAL_USD_PER_CORE_SECOND, MODAL_USD_PER_GIB_SECOND

    gpu_rate, source = Decimal(0), "no GPU"
    if gpus:
        row = next((r for r in snapshot() if r.cloud == "modal" and r.gpu == canonical_gpu and r.gpus == 1), None)
        if row is not None:
            gpu_rate, source = row.usd_per_hour * gpus, f"{row.source} ({row.as_of_text or row.as_of.isoformat()})"
    cores = Decimal(repr(cpu_cores))
    return {"gpu_usd_per_hour": str(gpu_rate), "gpu_price_source": source,
            "cpu_usd_per_hour": str(MODAL_USD_PER_CORE_SECOND * cores * 3600),
            "memory_usd_per_hour": str(MODAL_USD_PER_GIB_SECOND * memory_gib * 3600)}
