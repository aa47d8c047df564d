"""Live RunPod GPU prices through its GraphQL API (``gpuTypes``): secure and community on-demand prices
and their spot (interruptible) prices, per GPU.

Plain httpx, not the runpod SDK: the SDK costs ~1.6 s to import and builds queries with string
formatting. Like the SDK, it honours ``RUNPOD_API_BASE_URL`` (tests point it at a fake server on
127.0.0.1) and sends the key as a bearer token. The key is never printed or put in a message.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from planner.catalog.gpus import gpu_catalog
from planner.catalog.prices import PriceRow, scaled

DEFAULT_BASE_URL = "https://api.runpod.io"
# RunPod pods hold at most this many GPUs; ``maxGpuCount`` lowers it per type.
POD_GPU_COUNTS = (1, 2, 4, 8)
GPU_TYPES_QUERY = """query GpuTypes {
  gpuTypes {
    id displayName memoryInGb maxGpuCount secureCloud communityCloud
    securePrice communityPrice secureSpotPrice communitySpotPrice
    lowestPrice(input: {gpuCount: 1}) { minimumBidPrice uninterruptablePrice }
  }
}"""


class SourceFailed(Exception):
    """A live source could not be used; the message is one line for a person (never a secret)."""


def fetch_gpu_types(api_key: str, base_url: str, timeout_s: float) -> list[dict[str, Any]]:
    """POST the gpuTypes query; the list of GPU types, or SourceFailed saying why in one line."""
    import httpx

    url = f"{base_url.rstrip('/')}/graphql"
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    try:
        response = httpx.post(url, json={"query": GPU_TYPES_QUERY}, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise SourceFailed(f"could not reach {base_url} ({type(exc).__name__})") from None
    if response.status_code in (401, 403):
        raise SourceFailed(f"the API key was rejected (HTTP {response.status_code})")
    if response.status_code != 200:
        raise SourceFailed(f"HTTP {response.status_code} from {url}")
    try:
        payload = response.json()
    except ValueError:
        raise SourceFailed("the answer is not JSON") from None
    return _gpu_types(payload)


def _gpu_types(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict) and payload.get("errors"):
        first = payload["errors"][0]
        message = first.get("message", "unknown") if isinstance(first, dict) else str(first)
        raise SourceFailed(f"GraphQL error: {' '.join(str(message).split())}")
    types = payload.get("data", {}).get("gpuTypes") if isinstance(payload, dict) else None
    if not isinstance(types, list):
        raise SourceFailed("unexpected answer (no data.gpuTypes list)")
    return [t for t in types if isinstance(t, dict)]


def _price(value: Any) -> Decimal | None:
    try:
        price = Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
    return price if price is not None and price > 0 else None


def rows_from_gpu_types(types: list[dict[str, Any]], today: date, base_url: str) -> tuple[list[PriceRow], int]:
    """Price rows for the GPU types the catalog knows (per-GPU prices × 1/2/4/8), and how many were skipped."""
    by_id = {spec.runpod_api_id: name for name, spec in gpu_catalog().items() if spec.runpod_api_id}
    rows, skipped = [], 0
    source = f"RunPod GraphQL gpuTypes ({base_url}) read {today.isoformat()}"
    for gpu_type in types:
        canonical = by_id.get(str(gpu_type.get("id")))
        if canonical is None:
            skipped += 1
            continue
        rows += _rows_for(gpu_type, canonical, today, source)
    return rows, skipped


def _rows_for(gpu_type: dict[str, Any], canonical: str, today: date, source: str) -> list[PriceRow]:
    lowest = gpu_type.get("lowestPrice") if isinstance(gpu_type.get("lowestPrice"), dict) else {}
    clouds = (
        ("secure-cloud", gpu_type.get("secureCloud", True), _price(gpu_type.get("securePrice")),
         _price(gpu_type.get("secureSpotPrice"))),
        ("community-cloud", gpu_type.get("communityCloud", True),
         _price(gpu_type.get("communityPrice")) or _price(lowest.get("uninterruptablePrice")),
         _price(gpu_type.get("communitySpotPrice")) or _price(lowest.get("minimumBidPrice"))),
    )
    try:
        max_count = int(gpu_type.get("maxGpuCount") or 8)
    except (TypeError, ValueError):
        max_count = 8
    rows = []
    for offering, offered, price, spot in clouds:
        if not offered or price is None:
            continue
        one = PriceRow("runpod", offering, canonical, 1, "any", price, spot, False, source, today, False,
                       today.isoformat(), notes="per-GPU price from the RunPod API")
        rows += [one] + [scaled(one, n) for n in POD_GPU_COUNTS if 1 < n <= max_count]
    return rows
