"""``tuneplan prices refresh``: ask the live sources the user has, cache what they say, and lay the cache
over the bundled snapshot.

Sources: RunPod's GraphQL API (needs an API key), SkyPilot's catalogs for AWS/GCP/Azure/Lambda (needs
the ``skypilot`` extra), Modal's published price table. Each source that fails says why in one line
and changes nothing; the snapshot always stays. The cache (``prices.json`` in the user cache dir) is a
stored record: it is read leniently, a row that does not parse is skipped, and for the same offer the
newer as-of date wins over the snapshot.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from planner.catalog.prices import PriceRow, merge, rows_from_records, snapshot, to_record
from providers import modal_prices, runpod_prices, sky_prices
from providers.paths import cache_dir
from providers.runpod_prices import SourceFailed

CACHE_FILE = "prices.json"
CACHE_VERSION = 1


@dataclass(frozen=True)
class SourceResult:
    """What one live source gave: rows, or a one-line reason it gave none."""

    name: str
    rows: list[PriceRow] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def line(self) -> str:
        if self.error:
            return f"{self.name}: failed — {self.error}"
        return f"{self.name}: ok — {len(self.rows)} prices"


def cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def read_cache(path: Path | None = None) -> list[PriceRow]:
    """Cached rows, leniently: a missing or broken file is an empty cache, a bad row is skipped."""
    try:
        data = json.loads((path or cache_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    records = data.get("rows") if isinstance(data, dict) else None
    return rows_from_records(records if isinstance(records, list) else [])


def current_prices(path: Path | None = None) -> list[PriceRow]:
    """The snapshot with the refreshed cache laid over it (newer wins)."""
    return merge(snapshot(), read_cache(path))


def _write_cache(rows: list[PriceRow], results: list[SourceResult], today: date, path: Path) -> None:
    payload: dict[str, Any] = {
        "version": CACHE_VERSION, "refreshed": today.isoformat(),
        "sources": {r.name: r.error or "ok" for r in results}, "rows": [to_record(row) for row in rows],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def refresh(settings, today: date, path: Path | None = None) -> list[SourceResult]:
    """Ask every configured source; cache the new rows over the old cache. ``settings`` is
    ``providers.settings.Settings``."""
    asked = settings.prices.sources
    timeout = settings.prices.refresh_timeout_s
    results: list[SourceResult] = []
    if "runpod" in asked:
        results.append(_runpod(settings, today, timeout))
    if "skypilot" in asked:
        results += _skypilot(settings.prices.skypilot_clouds, today, timeout)
    if "modal" in asked:
        results.append(_guard("modal", lambda: modal_prices.fetch(settings.prices.modal_pricing_url, timeout, today)))
    fresh = [row for r in results for row in r.rows]
    if fresh:
        path = path or cache_path()
        _write_cache(merge(read_cache(path), fresh), results, today, path)
    return results


def _guard(name: str, fetch) -> SourceResult:
    try:
        return SourceResult(name, fetch())
    except SourceFailed as exc:
        return SourceResult(name, error=str(exc))


def runpod_key(settings) -> str | None:
    """RUNPOD_API_KEY, else the settings file's key (a SecretStr, unwrapped only here)."""
    from_env = os.environ.get("RUNPOD_API_KEY")
    if from_env:
        return from_env
    secret = settings.runpod.api_key
    return secret.get_secret_value() if secret is not None else None


def _runpod(settings, today: date, timeout: float) -> SourceResult:
    key = runpod_key(settings)
    if not key:
        return SourceResult("runpod", error="no API key (set RUNPOD_API_KEY or runpod.api_key in settings)")
    base = os.environ.get("RUNPOD_API_BASE_URL") or settings.runpod.api_base_url or runpod_prices.DEFAULT_BASE_URL

    def fetch() -> list[PriceRow]:
        types = runpod_prices.fetch_gpu_types(key, base, timeout)
        rows, _skipped = runpod_prices.rows_from_gpu_types(types, today, base)
        if not rows:
            raise SourceFailed(f"none of the {len(types)} GPU types in the answer is in the catalog")
        return rows

    return _guard("runpod", fetch)


def _skypilot(clouds: list[str], today: date, timeout: float) -> list[SourceResult]:
    """One result per cloud; a missing SkyPilot install is a single line."""
    results = []
    for cloud in clouds:
        result = _guard(f"skypilot/{cloud}", lambda c=cloud: sky_prices.rows_for_cloud(
            c, sky_prices.list_cloud(c, timeout), sky_prices.catalog_as_of(c, today)))
        if result.error.startswith("not installed"):
            return [SourceResult("skypilot", error=result.error)]
        results.append(result)
    return results
