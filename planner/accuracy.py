"""Accuracy of the estimators on a file of published measurements (the calibration CSV format).

Memory is compared in the view the row measured (allocated, reserved or nvidia-smi); speed compares
the implied tokens/s with the measured tokens/s (per GPU, or of all GPUs where the row says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.calibration import Case, Score, load_cases
from planner.catalog.gpus import GpuSpec, find_gpu
from planner.estimate.devices import gpu_target
from planner.estimate.memory import estimate_memory
from planner.estimate.timing import estimate_time
from planner.errors import NotFound
from planner.units import GIB

# The targets (CONTRACTS §3): memory and time.
MEMORY_TARGETS = {"median_abs": 0.12, "within_25": 0.75, "under_10": 0.10}
SPEED_TARGETS = {"median_abs": 0.20, "within_25": 0.60, "optimistic_25": 0.15}

_GPU_WORDS = (("4090", "RTX4090"), ("a6000", "RTXA6000"), ("6000 ada", "RTX6000-Ada"), ("a100 40", "A100"),
              ("a100", "A100-80GB"), ("h100", "H100"), ("h200", "H200"), ("v100", "V100"), ("a10g", "A10G"),
              ("l40s", "L40S"), ("l4", "L4"), ("t4", "T4"), ("3090", "RTX3090"), ("a40", "A40"))


@dataclass(frozen=True)
class RowResult:
    case: Case
    estimate: float
    measured: float

    @property
    def error(self) -> float:
        return (self.estimate - self.measured) / self.measured


def gpu_for_label(label: str) -> GpuSpec:
    """The catalog GPU a row's free-text GPU column names ('RTX 4090 24GB', 'A100 80GB', …)."""
    lowered = label.lower()
    for word, name in _GPU_WORDS:
        if word in lowered:
            return find_gpu(name)
    raise NotFound(f"no catalog GPU matches '{label}'")


def memory_results(path: str) -> list[RowResult]:
    out = []
    for case in load_cases(path):
        if case.measured_gib is None:
            continue
        estimate = estimate_memory(case.arch, case.setup).in_view(case.metric) / GIB
        out.append(RowResult(case, estimate, case.measured_gib))
    return out


def speed_results(path: str) -> list[RowResult]:
    out = []
    for case in load_cases(path):
        if not case.tokens_per_s:
            continue
        target = gpu_target(gpu_for_label(case.gpu), case.setup.precision)
        time = estimate_time(case.arch, case.setup, target, 1e6, None)
        rate = time.tokens_per_s if case.speed_all_gpus else time.tokens_per_s / case.setup.gpus
        out.append(RowResult(case, rate, case.tokens_per_s))
    return out


def summarize(results: list[RowResult]) -> Score:
    return Score(tuple(r.error for r in results))
