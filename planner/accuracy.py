"""Accuracy of the estimators on a file of published measurements (the calibration CSV format).

Memory is compared in the view the row measured (allocated, reserved or nvidia-smi); speed compares
the implied tokens/s with the measured tokens/s (per GPU, or of all GPUs where the row says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import csv

from planner.arch import Architecture, architecture_from_config
from planner.calibration import Case, Score, load_cases
from planner.catalog.gpus import GpuSpec, find_gpu
from planner.estimate.devices import gpu_target
from planner.estimate.memory import estimate_memory
from planner.estimate.setup import TrainingSetup
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
    case: Case | None
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


def by_stack(results: list[RowResult]) -> dict[str, list[RowResult]]:
    """Results grouped by the stack their rows are planned with (``--stack``), in first-seen order."""
    groups: dict[str, list[RowResult]] = {}
    for result in results:
        groups.setdefault(result.case.setup.stack, []).append(result)
    return groups


# ---- traced steps (bench/results/trace_grid.csv) -----------------------------------------------

_TRACE_ARCH_COLUMNS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "head_dim", "intermediate_size", "vocab_size", "num_experts", "num_experts_per_tok",
                "moe_intermediate_size")


def trace_row_arch(row: dict[str, str]) -> Architecture:
    config = {key: int(float(row[key])) for key in _TRACE_ARCH_COLUMNS[1:] if row.get(key, "").strip()}
    config["model_type"] = row["model_type"]
    config["tie_word_embeddings"] = row["tie_word_embeddings"] == "True"
    if row["task"] in ("classify", "embed") or row["model_type"] == "bert":
        config.update(max_position_embeddings=512, type_vocab_size=2)
    else:
        config["architectures"] = ["ForCausalLM"]
    return architecture_from_config(config, source=f"trace row {row['row']}")


def trace_row_setup(row: dict[str, str]) -> TrainingSetup:
    optimizer = row["optimizer"]
    impl = {"adamw_foreach": "foreach", "adamw_loop": "loop"}.get(optimizer, "fused")
    targets = row["lora_targets"]
    return TrainingSetup(
        task=row["task"], method=row["method"], precision=row["precision"],
        optimizer="adamw" if optimizer.startswith("adamw") else optimizer, optimizer_impl=impl,
        seq_len=int(row["seq_len"]), micro_batch=int(row["micro_batch"]), grad_ckpt=row["grad_ckpt"] == "True",
        lora_r=int(float(row["lora_r"] or 16)), lora_dropout=float(row["lora_dropout"] or 0.05),
        lora_targets=None if targets in ("", "all-linear") else tuple(targets.split("+")),
        spectrum_fraction=float(row["spectrum_fraction"] or 0.25), packing=True,
        fused_lm_head=row["lm_head"] == "chunked", autocast=row["amp"] == "True",
    ).validated()


def trace_results(path: str) -> list[tuple[dict[str, str], RowResult]]:
    """Each traced row with the analytic tensor estimate (GiB) beside the traced tensor peak."""
    out = []
    with open(path, encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if not r.get("error") and r.get("peak_bytes")]
    for row in rows:
        estimate = estimate_memory(trace_row_arch(row), trace_row_setup(row)).tensors / GIB
        out.append((row, RowResult(None, estimate, float(row["peak_bytes"]) / GIB)))
    return out
