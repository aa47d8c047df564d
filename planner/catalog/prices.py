"""The bundled, dated cloud price snapshot (``data/cloud_prices.csv``) and its merge with a refreshed cache.

Every price is a ``Decimal`` per hour for the whole configuration and keeps its source and as-of date.
Approximate dates ("~2026-08/09 (matches …)", "2025-10") become the first of their month with
``approx=True`` (CONTRACTS §4). Staleness is judged against a ``today`` the caller passes in: this
module never reads the clock, the network or the user's cache (providers does; it hands us records).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from planner.catalog._csv import opt_int, read_rows
from planner.catalog.gpus import gpu_catalog

# The day the bundled facts were collected (shared/data/README.md).
SNAPSHOT_DATE = date(2026, 11, 26)
# A price older than this is shown as stale (cloud prices change weekly, spot prices hourly).
STALE_AFTER_DAYS = 30
# RunPod and Modal bill per GPU: their 1-GPU price scales linearly to these counts (marked derived).
LINEAR_CLOUDS = ("runpod", "modal")
LINEAR_COUNTS = (2, 4, 8)
# Which launcher reaches each cloud (CONTRACTS §4 "provider").
LAUNCHER_OF_CLOUD = {"runpod": "runpod", "modal": "modal", "lambda": "skypilot", "aws": "skypilot",
                     "gcp": "skypilot", "azure": "skypilot", "local": "local"}
CLOUDS = tuple(LAUNCHER_OF_CLOUD)


@dataclass(frozen=True)
class PriceRow:
    """One offer: a GPU configuration at one cloud, with its dated, sourced price."""

    cloud: str
    offering: str
    gpu: str
    gpus: int
    region: str
    usd_per_hour: Decimal
    spot_usd_per_hour: Decimal | None
    gpu_only: bool
    source: str
    as_of: date
    approx: bool
    as_of_text: str = ""
    derived: bool = False
    instance_type: str = ""
    vcpus: int | None = None
    ram_gb: int | None = None
    notes: str = ""

    @property
    def launcher(self) -> str:
        return LAUNCHER_OF_CLOUD.get(self.cloud, self.cloud)

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        """What makes two rows the same offer (a refresh replaces the snapshot row with this key)."""
        host = self.instance_type if self.cloud in ("aws", "gcp", "azure", "lambda") else ""
        return (self.cloud, self.offering, self.gpu, self.gpus, host)

    def age_days(self, today: date) -> int:
        return (today - self.as_of).days

    def is_stale(self, today: date, after_days: int = STALE_AFTER_DAYS) -> bool:
        return self.age_days(today) > after_days


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YEAR = re.compile(r"(\d{4})")


def parse_as_of(text: str) -> tuple[date, bool]:
    """A CSV ``as_of_date`` cell → (date, approximate?).

    "2026-11-09" is exact; "~2026-08/09 (matches privum 2026-08-19)", "2025-10" and "2026 (undated blog)"
    are approximate and become the first of the (first) month named.
    """
    cleaned = text.strip()
    head = cleaned.split("(")[0].strip()
    exact = _ISO.fullmatch(head)
    if exact:
        return date(*map(int, exact.groups())), False
    month = _MONTH.search(head)
    if month:
        return date(int(month.group(1)), int(month.group(2)), 1), True
    year = _YEAR.search(head)
    if year:
        return date(int(year.group(1)), 1, 1), True
    raise ValueError(f"no date in {text!r}")


def _money(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _region(text: str) -> str:
    """'us-east-1 (same price in all listed regions)' → 'us-east-1'; 'US (US-TX-1)' → 'US-TX-1'."""
    inner = re.search(r"\(([A-Z]{2}-[A-Z]{2,}-\d+)\)", text)
    return inner.group(1) if inner else text.split(" (")[0].strip()


def _from_csv(row: dict[str, str]) -> PriceRow:
    as_of, approx = parse_as_of(row["as_of_date"])
    scope_notes = f"{row['price_scope']} {row['notes']}".lower()
    return PriceRow(
        cloud=row["provider"], offering=row["offering"], gpu=row["gpu"], gpus=int(row["gpu_count"]),
        region=_region(row["region"]), usd_per_hour=Decimal(row["on_demand_usd_per_hour"]),
        spot_usd_per_hour=_money(row["spot_usd_per_hour"]), gpu_only=row["price_scope"].startswith("GPU only"),
        source=row["source"], as_of=as_of, approx=approx, as_of_text=row["as_of_date"],
        derived="derived" in scope_notes, instance_type=row["instance_type"], vcpus=opt_int(row["vcpus"]),
        ram_gb=opt_int(row["ram_gb"]), notes=row["notes"],
    )


def scaled(row: PriceRow, gpus: int) -> PriceRow:
    """The same per-GPU price for ``gpus`` GPUs (only where the cloud bills per GPU), marked derived."""
    spot = row.spot_usd_per_hour * gpus if row.spot_usd_per_hour is not None else None
    return replace(row, gpus=gpus, usd_per_hour=row.usd_per_hour * gpus, spot_usd_per_hour=spot, derived=True,
                   instance_type="", vcpus=None, ram_gb=None,
                   notes=f"{gpus}× the 1-GPU price ({row.cloud} bills per GPU)")


def with_linear_counts(rows: list[PriceRow]) -> list[PriceRow]:
    """Add 2/4/8-GPU rows for per-GPU-billed clouds where the source has no row for that count."""
    have = {row.key for row in rows}
    extra = []
    for row in rows:
        if row.cloud not in LINEAR_CLOUDS or row.gpus != 1:
            continue
        for count in LINEAR_COUNTS:
            bigger = scaled(row, count)
            if bigger.key not in have:
                have.add(bigger.key)
                extra.append(bigger)
    return rows + extra


@cache
def snapshot() -> tuple[PriceRow, ...]:
    """Every bundled price, with linearly derived multi-GPU rows for RunPod and Modal."""
    return tuple(with_linear_counts([_from_csv(row) for row in read_rows("cloud_prices.csv")]))


def merge(base: tuple[PriceRow, ...] | list[PriceRow], newer: list[PriceRow]) -> list[PriceRow]:
    """``base`` with ``newer`` laid over it: for the same offer the later as-of date wins (ties: newer)."""
    merged = {row.key: row for row in base}
    for row in newer:
        old = merged.get(row.key)
        if old is None or row.as_of >= old.as_of:
            merged[row.key] = row
    return list(merged.values())


def rows_from_records(records: list[Any]) -> list[PriceRow]:
    """Cached price records (dicts) → rows, leniently: a record that does not parse is skipped."""
    rows = []
    for record in records:
        row = _from_record(record) if isinstance(record, dict) else None
        if row is not None:
            rows.append(row)
    return rows


def _from_record(record: dict[str, Any]) -> PriceRow | None:
    try:
        spot = record.get("spot_usd_per_hour")
        row = PriceRow(
            cloud=str(record["cloud"]), offering=str(record["offering"]), gpu=str(record["gpu"]),
            gpus=int(record["gpus"]), region=str(record.get("region") or "any"),
            usd_per_hour=Decimal(str(record["usd_per_hour"])),
            spot_usd_per_hour=Decimal(str(spot)) if spot not in (None, "") else None,
            gpu_only=bool(record.get("gpu_only", False)), source=str(record["source"]),
            as_of=date.fromisoformat(str(record["as_of"])), approx=bool(record.get("approx", False)),
            as_of_text=str(record.get("as_of", "")), derived=bool(record.get("derived", False)),
            instance_type=str(record.get("instance_type") or ""), notes=str(record.get("notes") or ""),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None
    if row.gpu not in gpu_catalog() or row.gpus < 1 or row.usd_per_hour <= 0 or row.cloud not in CLOUDS:
        return None
    return row


def rate_text(value: Decimal) -> str:
    """A price as text with at least cents ("8.00", "0.5261", "3.9492"), never "8.0"."""
    return str(value.quantize(Decimal("0.01")) if value.as_tuple().exponent > -2 else value)


def to_record(row: PriceRow) -> dict[str, Any]:
    """A row as a JSON-ready dict (money as strings); :func:`rows_from_records` reads it back."""
    return {
        "cloud": row.cloud, "provider": row.launcher, "offering": row.offering, "gpu": row.gpu, "gpus": row.gpus,
        "region": row.region, "usd_per_hour": rate_text(row.usd_per_hour),
        "usd_per_gpu_hour": str((row.usd_per_hour / row.gpus).quantize(Decimal("0.0001"))),
        "spot_usd_per_hour": rate_text(row.spot_usd_per_hour) if row.spot_usd_per_hour is not None else None,
        "gpu_only": row.gpu_only, "source": row.source, "as_of": row.as_of.isoformat(), "approx": row.approx,
        "derived": row.derived, "instance_type": row.instance_type, "notes": row.notes,
    }


def select(rows: list[PriceRow] | tuple[PriceRow, ...], gpu: str | None = None,
           provider: str | None = None) -> list[PriceRow]:
    """Rows for one canonical GPU and/or one launcher or cloud, cheapest per GPU-hour first."""
    chosen = [row for row in rows if (gpu is None or row.gpu == gpu)
              and (provider is None or provider in (row.cloud, row.launcher))]
    return sorted(chosen, key=lambda r: (r.gpu, r.gpus, r.usd_per_hour / r.gpus, r.cloud))
