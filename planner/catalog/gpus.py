"""GPU specs and the canonical GPU names (CONTRACTS §5).

One table maps each canonical name (SkyPilot's spelling where it is unambiguous) to each provider's
own name; adapters translate only through :func:`provider_gpu_name` so naming traps (RunPod's "H100" is
the PCIe card, Lambda's "RTX6000" is the Turing Quadro) are handled once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from planner.catalog._csv import opt_float, read_rows
from planner.errors import NotFound
from planner.suggest import did_you_mean
from planner.units import MIB, GIB

# Compute figures the public datasheets do not give; the time estimate marks these GPUs approximate.
# A10G: NVIDIA publishes no figure; AWS/community benchmarks put it at roughly 55-60 % of the A10's
# 125 TFLOP/s. RTX PRO 6000 and B300: assumed equal to the cards they are built like (RTX 5090 ×2.4 for
# the pro part's full-rate accumulate, B200 for B300). Labelled "assumed" wherever they are shown.
ASSUMED_BF16_TFLOPS = {"A10G": 70.0, "RTXPRO6000": 500.0, "B300": 2250.0}
ASSUMED_BANDWIDTH_GB_S = {"B300": 8000.0}


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator: memory as nvidia-smi shows it, bandwidth, dense tensor throughput, power, price."""

    name: str
    vendor: str
    architecture: str
    memory_gb: float
    smi_memory_gib: float
    bandwidth_gb_s: float | None
    bf16_tflops: float | None
    fp16_tflops: float | None
    fp8_tflops: float | None
    tdp_watts: float | None
    consumer: bool
    msrp_usd: float | None
    street_usd: float | None
    street_price_date: str
    price_source: str
    confidence: str
    compute_assumed: bool
    skypilot: str
    skypilot_lambda: str
    skypilot_runpod: str
    runpod_api_id: str
    modal: str
    aliases: tuple[str, ...]

    def tensor_tflops(self, precision: str) -> float | None:
        """Dense tensor-core TFLOP/s for a training precision (fp32 training uses TF32 ≈ half of bf16)."""
        if precision in ("bf16", "bf16-mixed"):  # bf16-mixed computes in bf16 (fp32 masters)
            return self.bf16_tflops or self.fp16_tflops
        if precision == "fp16":
            return self.fp16_tflops or self.bf16_tflops
        half = self.bf16_tflops or self.fp16_tflops
        return half / 2 if half else None


def _spec(row: dict[str, str], names: dict[str, str]) -> GpuSpec:
    name = row["name"]
    bf16 = opt_float(row["bf16_dense_tflops"])
    assumed = bf16 is None and opt_float(row["fp16_dense_tflops"]) is None and name in ASSUMED_BF16_TFLOPS
    if assumed:
        bf16 = ASSUMED_BF16_TFLOPS[name]
    bandwidth = opt_float(row["memory_bandwidth_gb_s"]) or ASSUMED_BANDWIDTH_GB_S.get(name)
    return GpuSpec(
        name=name, vendor=row["vendor"], architecture=row["architecture"],
        memory_gb=float(row["memory_gb"]), smi_memory_gib=round(int(names["nvidia_smi_mib"]) * MIB / GIB, 2),
        bandwidth_gb_s=bandwidth, bf16_tflops=bf16,
        fp16_tflops=opt_float(row["fp16_dense_tflops"]) or (bf16 if assumed else None),
        fp8_tflops=opt_float(row["fp8_dense_tflops"]), tdp_watts=opt_float(row["tdp_watts"]),
        consumer=row["consumer_or_datacenter"] == "consumer", msrp_usd=opt_float(row["msrp_usd"]),
        street_usd=opt_float(row["street_buy_price_usd"]), street_price_date=row["price_date"],
        price_source=row["price_source"], confidence=row["confidence"], compute_assumed=assumed,
        skypilot=names["skypilot"], skypilot_lambda=names["skypilot_lambda"],
        skypilot_runpod=names["skypilot_runpod"], runpod_api_id=names["runpod_api_id"], modal=names["modal"],
        aliases=tuple(a for a in names["aliases"].split(";") if a),
    )


@cache
def gpu_catalog() -> dict[str, GpuSpec]:
    """Every GPU by canonical name, in catalog order."""
    names = {row["canonical"]: row for row in read_rows("gpu_names.csv")}
    return {row["name"]: _spec(row, names[row["name"]]) for row in read_rows("gpus.csv")}


@cache
def _lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in gpu_catalog().values():
        for label in (spec.name, *spec.aliases):
            table[_key(label)] = spec.name
    return table


def _key(label: str) -> str:
    return label.lower().replace(" ", "").replace("_", "-").removeprefix("nvidia")


def find_gpu(name: str) -> GpuSpec:
    """The GPU a canonical name or common alias names.

    Raises:
        NotFound: with the closest canonical names.
    """
    canonical = _lookup().get(_key(name))
    if canonical is None:
        raise NotFound(f"unknown GPU '{name}'{did_you_mean(name, gpu_catalog())}")
    return gpu_catalog()[canonical]


def provider_gpu_name(canonical: str, provider: str) -> str | None:
    """A provider's own name for a canonical GPU, or None where that provider does not offer it.

    ``provider`` is one of: skypilot (AWS/GCP/Azure spelling), lambda, runpod (RunPod API id),
    skypilot-runpod (SkyPilot's RunPod spelling), modal.
    """
    spec = find_gpu(canonical)
    value = {
        "skypilot": spec.skypilot, "lambda": spec.skypilot_lambda, "skypilot-runpod": spec.skypilot_runpod,
        "runpod": spec.runpod_api_id, "modal": spec.modal,
    }.get(provider)
    return value or None
