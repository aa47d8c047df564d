"""RunPod's offers: live from the GraphQL ``gpuTypes`` query (secure, community and their spot prices) when
there is a key, else the bundled price snapshot's RunPod rows, each with its source and date. Each offer names
its offering (``secure-cloud`` / ``community-cloud``): the launch rents from the offering it was priced at.

The price rows come from ``providers.runpod_prices`` (the same reading ``tuneplan prices refresh`` uses),
so both agree on what a GPU type costs and which canonical GPU it is.
"""

from __future__ import annotations

from datetime import date

from providers.runpod_prices import GPU_TYPES_QUERY, rows_from_gpu_types
from providers.types import Offer


def live_offers(api, today: date) -> list[Offer]:
    data = api.graphql(GPU_TYPES_QUERY, what="the GPU types query")
    types = [t for t in data.get("gpuTypes") or [] if isinstance(t, dict)]
    rows, _skipped = rows_from_gpu_types(types, today, api.base_url)
    return _offers(rows)


def snapshot_offers() -> list[Offer]:
    from providers.prices_refresh import current_prices

    return _offers([row for row in current_prices() if row.cloud == "runpod"])


def _offers(rows) -> list[Offer]:
    offers = []
    for row in rows:
        as_of = row.as_of.isoformat()
        # region keeps the offering too (the ledger's region column showed it before Offer.offering existed)
        offers.append(Offer(row.gpu, row.gpus, row.usd_per_hour, False, row.source, as_of, row.offering,
                            offering=row.offering))
        if row.spot_usd_per_hour is not None:
            offers.append(Offer(row.gpu, row.gpus, row.spot_usd_per_hour, True, row.source, as_of, row.offering,
                                offering=row.offering))
    return offers
