"""Modal's GPU prices from its published pricing page (per GPU-second; CPU and memory are billed on top
and added by the cost model, see ``planner.recommend.costs``).

Modal has no price API, so this reads the page's text leniently: a GPU label followed closely by a
"$<number> / sec" price. If the layout changes and nothing matches, the source fails in one line and
the snapshot's Modal prices stay.
"""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

from planner.catalog.gpus import gpu_catalog
from planner.catalog.prices import LINEAR_COUNTS, PriceRow, scaled
from providers.runpod_prices import SourceFailed

# Labels on Modal's page → Modal's GPU names (as in the catalog's `modal` column).
_LABEL = re.compile(
    r"(?i)\b(B200|H200|H100|A100[\s,\-]*80\s*GB|A100[\s,\-]*40\s*GB|L40S|A10G?|L4|T4|RTX[\s\-]*PRO[\s\-]*6000)\b"
    r"[^$]{0,80}?\$\s*(\d+(?:\.\d+)?)\s*/\s*(?:sec|second|s)\b"
)


def _modal_name(label: str) -> str:
    squashed = re.sub(r"[\s,\-]", "", label.upper())
    return {"A10080GB": "A100-80GB", "A10040GB": "A100-40GB", "A10G": "A10", "RTXPRO6000": "RTX-PRO-6000"}.get(
        squashed, squashed)


def page_text(markup: str) -> str:
    """Visible text of an HTML page, whitespace collapsed."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(html.unescape(text).split())


def rows_from_page(markup: str, today: date, url: str) -> list[PriceRow]:
    """Per-GPU hourly prices found on the page, scaled to 2/4/8 GPUs (Modal bills per GPU)."""
    by_modal = {spec.modal: name for name, spec in gpu_catalog().items() if spec.modal}
    rows, seen = [], set()
    for label, per_second in _LABEL.findall(page_text(markup)):
        canonical = by_modal.get(_modal_name(label))
        if canonical is None or canonical in seen:
            continue
        seen.add(canonical)
        hourly = (Decimal(per_second) * 3600).quantize(Decimal("0.0001"))
        one = PriceRow("modal", "serverless (per-second)", canonical, 1, "any", hourly, None, True,
                       f"{url} read {today.isoformat()}", today, False, today.isoformat(),
                       notes=f"${per_second}/GPU-s; CPU and memory billed extra")
        rows += [one] + [scaled(one, n) for n in LINEAR_COUNTS]
    return rows


def fetch(url: str, timeout_s: float, today: date) -> list[PriceRow]:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout_s, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise SourceFailed(f"could not reach {url} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise SourceFailed(f"HTTP {response.status_code} from {url}")
    rows = rows_from_page(response.text, today, url)
    if not rows:
        raise SourceFailed("no GPU prices found on the pricing page (its layout may have changed)")
    return rows
