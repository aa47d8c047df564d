"""Apple Silicon chips and typical CPUs: the 'Mac or PC?' side of the hardware catalog.

CPU figures are computed theoretical peaks (the source says so); Apple GPU TFLOP/s are approximate.
Where a chip's TFLOP/s is blank, it is derived from a chip of the same generation per GPU core and
marked ``derived``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from planner.catalog._csv import opt_float, read_rows
from planner.errors import NotFound
from planner.suggest import did_you_mean


@dataclass(frozen=True)
class AppleChip:
    name: str
    gpu_cores: int
    max_memory_gb: float
    bandwidth_gb_s: float
    fp32_tflops: float
    tflops_derived: bool
    example_machine: str
    example_price_usd: float | None
    price_date: str
    example_memory_gb: float | None = None
    """Unified memory of the configuration ``example_price_usd`` buys (the base one, usually far from max)."""


@dataclass(frozen=True)
class CpuSpec:
    name: str
    segment: str
    cores: str
    bandwidth_gb_s: float
    fp32_gflops: float


def _first_int(text: str) -> int:
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    return max(numbers) if numbers else 0


def _config_memory(config: str) -> float | None:
    """"28C CPU / 60C GPU, 96GB, 1TB SSD (base)" -> 96: the first size in GB (TB sizes are storage)."""
    found = re.search(r"(\d+)\s*GB", config)
    return float(found.group(1)) if found else None


@cache
def apple_chips() -> dict[str, AppleChip]:
    rows = read_rows("apple_silicon.csv")
    per_core: dict[str, float] = {}
    for row in rows:
        tflops, cores = opt_float(row["gpu_fp32_tflops_approx"]), _first_int(row["gpu_cores"])
        if tflops and cores:
            per_core.setdefault(row["chip"].split()[0], tflops / cores)
    chips = {}
    for row in rows:
        cores = _first_int(row["gpu_cores"])
        tflops = opt_float(row["gpu_fp32_tflops_approx"])
        generation = row["chip"].split()[0]
        derived = tflops is None
        if derived:
            tflops = per_core.get(generation, min(per_core.values())) * cores
        chips[row["chip"]] = AppleChip(
            name=row["chip"], gpu_cores=cores, max_memory_gb=float(row["max_unified_memory_gb"]),
            bandwidth_gb_s=float(row["memory_bandwidth_gb_s"]), fp32_tflops=round(tflops, 2),
            tflops_derived=derived, example_machine=row["example_machine"],
            example_price_usd=opt_float(row["example_price_usd"]), price_date=row["price_date"],
            example_memory_gb=_config_memory(row["example_config"]),
        )
    return chips


@cache
def cpus() -> dict[str, CpuSpec]:
    return {
        row["cpu"]: CpuSpec(
            name=row["cpu"], segment=row["segment"], cores=row["cores"],
            bandwidth_gb_s=float(row["memory_bandwidth_gb_s"]), fp32_gflops=float(row["fp32_peak_gflops_approx"]),
        )
        for row in read_rows("cpus.csv")
    }


def find_apple_chip(name: str) -> AppleChip:
    """An Apple chip by name ('M3 Ultra', 'm4 max'); the 40-core part when a name has two GPU variants."""
    wanted = name.lower().replace("apple", "").strip()
    matches = [chip for key, chip in apple_chips().items() if key.lower().startswith(wanted)]
    if not matches:
        raise NotFound(f"unknown Apple chip '{name}'{did_you_mean(name, apple_chips())}")
    return max(matches, key=lambda chip: chip.gpu_cores)
