"""What SkyPilot's optimizer actually launched, and what that machine costs by our catalog.

A plan is priced on one offer; SkyPilot then picks, among the acceptable resources, whatever its own
catalog says is cheapest, which may be another cloud, region or card. The cluster's record says what
came up: ``sky.status`` gives ``cloud``/``region`` as text and ``accelerators`` as the text of a dict
(``f'{handle.launched_resources.accelerators}'``, sky/backends/backend_utils.py
``_update_records_with_resources``) and the instance type inside ``resources_str_full``
(``1x(gpus=L4:1, cpus=4, mem=16, g6.xlarge, disk=100)``, sky/utils/resources_utils.py ``format_resource``);
a managed job's record gives the same facts with ``accelerators`` as a dict and ``cluster_resources_full``
(sky/jobs/utils.py ``_populate_job_record_from_handle``). The ledger then charges the rate of what
ran, not of what was priced. These fields come from a server: they are parsed as literals only, bounded,
and anything unexpected is "not known" rather than an error.
"""

from __future__ import annotations

import ast
import re
from decimal import Decimal

from providers.skypilot.accelerators import CLOUD_COLUMNS, canonical_from_sky
from providers.types import LaunchedOn

MAX_FIELD_CHARS = 500


def launched_on(record, spot: bool) -> LaunchedOn | None:
    """The machine a cluster record or managed-job record describes; None before it has one."""
    cloud = _text(record.get("cloud")).lower()
    accelerators = _accelerators(record.get("accelerators"))
    if not cloud or cloud == "-" or not accelerators:
        return None
    name, count = next(iter(accelerators.items()))
    region = _text(record.get("region"))
    canonical = canonical_from_sky(cloud, name) if cloud in CLOUD_COLUMNS else None
    machine = LaunchedOn(cloud, "" if region == "-" else region, canonical or name, count)
    if canonical is None:
        return machine
    described = _text(record.get("resources_str_full") or record.get("cluster_resources_full"))
    return _priced(machine, spot, set(re.split(r"[(),\s]+", described)) - {""})


def _text(value) -> str:
    return str(value or "")[:MAX_FIELD_CHARS].strip()


def _accelerators(value) -> dict[str, int]:
    """``{"H100": 8}`` from a dict or its text; {} for anything else (a CPU machine, a shape we do not know)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value[:MAX_FIELD_CHARS])
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return {}
    if not isinstance(value, dict):
        return {}
    found = {}
    for name, count in value.items():
        if isinstance(name, str) and isinstance(count, int | float) and 0 < count <= 64 and int(count) == count:
            found[name[:64]] = int(count)
    return found


def _priced(machine: LaunchedOn, spot: bool, words: set[str]) -> LaunchedOn:
    """Our catalog's rate for that card on that cloud: the row of the launched instance type when the
    record names one we price, in that region when we have the region's row; else the cheapest such row."""
    from dataclasses import replace

    from providers.prices_refresh import current_prices

    rows = [row for row in current_prices() if row.cloud == machine.cloud and row.gpu == machine.gpu
            and row.gpus == machine.gpus and (row.spot_usd_per_hour is not None or not spot)]
    same_instance = [row for row in rows if row.instance_type and row.instance_type in words]
    rows = same_instance or rows
    same_region = [row for row in rows if row.region == machine.region]
    candidates = same_region or rows
    if not candidates:
        return machine
    row = min(candidates, key=lambda r: r.spot_usd_per_hour if spot else r.usd_per_hour)
    rate: Decimal = row.spot_usd_per_hour if spot else row.usd_per_hour
    where = " ".join(filter(None, (row.instance_type, row.region if same_region
                                   else f"{row.region} (no {machine.region or 'region'} row)")))
    return replace(machine, usd_per_hour=rate, source=f"{row.source} [{row.cloud} {where}]",
                   as_of=row.as_of.isoformat())
