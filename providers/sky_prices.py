"""AWS, GCP, Azure and Lambda prices through SkyPilot's catalogs (``sky.catalog.list_accelerators``),
when the ``skypilot`` extra is installed.

SkyPilot keeps its catalogs as CSV files under ``~/.sky/catalogs`` (``SKY_RUNTIME_DIR`` moves them) and
downloads a missing or old one on first read, so each cloud is asked on its own: one that cannot be read
offline fails alone, in one line. ``sky`` is imported here only (≈ 2.5 s) and its console output is
swallowed. A hung download is abandoned after the timeout.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import threading
from datetime import date
from decimal import Decimal
from typing import Any

from planner.catalog.gpus import gpu_catalog
from planner.catalog.prices import PriceRow
from providers.runpod_prices import SourceFailed

SKY_CLOUDS = ("aws", "gcp", "azure", "lambda")
# The snapshot's offering label per cloud, so a refreshed row replaces the snapshot row it updates.
OFFERING = {"aws": "on-demand + spot", "gcp": "on-demand + spot", "azure": "pay-as-you-go", "lambda": "on-demand"}


class SkyUnavailable(SourceFailed):
    """SkyPilot is not installed or one cloud's catalog could not be read (one-line message)."""


def _quietly(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def _catalog_module():
    os.environ.setdefault("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
    try:
        return _quietly(_import_catalog)
    except ImportError:
        raise SkyUnavailable("not installed (pip install 'tuneplan[skypilot]')") from None


def _import_catalog():
    import sky.catalog

    return sky.catalog


def list_cloud(cloud: str, timeout_s: float) -> dict[str, list[Any]]:
    """``list_accelerators`` for one cloud, in a thread so a hung download cannot hang the CLI."""
    catalog = _catalog_module()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = _quietly(catalog.list_accelerators, gpus_only=True, clouds=cloud,
                                     all_regions=False, require_price=True)
        except Exception as exc:  # any SDK failure becomes one line for this cloud only
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise SkyUnavailable(f"catalog read timed out after {timeout_s:g} s")
    if "error" in box:
        raise SkyUnavailable(_why(box["error"]))
    return box["result"]


def _why(exc: Exception) -> str:
    """One line: offline downloads name the host; anything else its type and first words."""
    text = " ".join(str(exc).split())
    host = re.search(r"host='([^']+)'", text)
    if "Connection" in type(exc).__name__ and host:
        return f"catalog not cached and {host.group(1)} is unreachable (offline?)"
    return f"catalog unavailable ({type(exc).__name__}: {text[:100]}{'…' if len(text) > 100 else ''})"


def catalog_as_of(cloud: str, today: date) -> date:
    """When the local catalog file was written (its prices are at least that old; marked approximate)."""
    try:
        from sky.catalog import common

        path = common.get_catalog_path(f"{cloud}/vms.csv")
        return date.fromtimestamp(os.path.getmtime(path))
    except (ImportError, OSError, AttributeError):
        return today


def canonical_name(cloud: str, accelerator: str, instance_type: str | None) -> str | None:
    """SkyPilot's name on a cloud → our canonical name (Lambda's "H100" PCIe instances → H100-PCIe)."""
    column = "skypilot_lambda" if cloud == "lambda" else "skypilot"
    for name, spec in gpu_catalog().items():
        if getattr(spec, column) == accelerator:
            if "pcie" in (instance_type or "").lower() and f"{name}-PCIe" in gpu_catalog():
                return f"{name}-PCIe"
            return name
    return None


def rows_for_cloud(cloud: str, listing: dict[str, list[Any]], as_of: date) -> list[PriceRow]:
    """Price rows from ``list_accelerators`` output (InstanceTypeInfo tuples)."""
    rows = []
    for accelerator, offers in listing.items():
        for info in offers:
            row = _row(cloud, accelerator, info, as_of)
            if row is not None:
                rows.append(row)
    return rows


def _money(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value <= 0:
        return None
    return Decimal(repr(round(float(value), 6)))


def _row(cloud: str, accelerator: str, info: Any, as_of: date) -> PriceRow | None:
    canonical = canonical_name(cloud, accelerator, info.instance_type)
    price = _money(info.price)
    count = info.accelerator_count
    if canonical is None or price is None or not count or count != int(count):
        return None
    source = f"SkyPilot catalog {cloud}/vms.csv via sky.catalog.list_accelerators (file of {as_of.isoformat()})"
    return PriceRow(cloud, OFFERING[cloud], canonical, int(count), info.region or "any", price, _money(info.spot_price),
                    info.instance_type is None, source, as_of, True, as_of.isoformat(),
                    instance_type=info.instance_type or "")
