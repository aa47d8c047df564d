"""What a Modal run cost: Modal's own billing report when the workspace gives one, else our arithmetic.

The report (``Workspace.billing.report``) attributes cost to Apps with their tags; our Apps carry the run id
as a tag, so the run's bill is the sum of the rows with that tag. The report comes in whole hours and lags
behind; when it has no row for the run (or the workspace's plan does not offer it), the cost is the
per-second price of the GPU (price catalog, with its source and date) plus Modal's CPU and memory rates
(``planner.recommend.costs``), times the seconds the run's containers ran (each segment records its start
and end on the Volume).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from providers.types import TAG_RUN

MICRO = Decimal("0.000001")


def reported_cost(run_id: str, launched_at: float, now: datetime | None = None) -> Decimal | None:
    """The sum of Modal's billing rows tagged with ``run_id``; None when the report has none or is unavailable."""
    import modal
    import modal.exception

    now = now or datetime.now(timezone.utc)
    start = datetime.fromtimestamp(launched_at, timezone.utc).replace(minute=0, second=0, microsecond=0)
    try:
        rows = modal.Workspace.from_context().billing.report(start=start - timedelta(hours=1), end=now,
                                                               resolution="h", tag_names=[TAG_RUN])
    except (modal.exception.Error, OSError):
        return None
    costs = [Decimal(row.cost) for row in rows if row.tags.get(TAG_RUN) == run_id]
    return sum(costs, Decimal(0)).quantize(MICRO) if costs else None


def rates(canonical_gpu: str, gpus: int, cpu_cores: float, memory_gib: int) -> dict[str, str]:
    """The per-hour rates a run is charged at (Decimal strings, JSON-safe for the run handle) and the source."""
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


def computed_cost(handle_rates: dict, seconds: float) -> Decimal:
    """Rates × container seconds (GPU + CPU + memory)."""
    hourly = sum((Decimal(handle_rates.get(k, "0")) for k in ("gpu_usd_per_hour", "cpu_usd_per_hour",
                                                                "memory_usd_per_hour")), Decimal(0))
    return (hourly * Decimal(repr(seconds)) / 3600).quantize(MICRO)
