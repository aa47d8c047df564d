"""Score the estimators against published measurements (CSV rows in the calibration format).

A row describes a run (model architecture, method, sizes, framework) and what was measured (peak
memory per GPU in GiB, and for speed rows tokens/s per GPU). The same code scores the bundled public
rows in the test suite and any other file in this format (``bench/score_accuracy.py FILE``).
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.arch import Architecture, architecture_from_config
from planner.estimate.setup import TrainingSetup
from planner.estimate.stacks import with_stack

_OPTIMIZERS = {
    "adamw": "adamw", "adam": "adamw", "adamw8bit": "adamw_8bit", "adamw_8bit": "adamw_8bit",
    "paged_adamw8bit": "paged_adamw_8bit", "paged_adamw_8bit": "paged_adamw_8bit",
    "paged_adamw32bit": "paged_adamw_32bit", "paged_adamw_32bit": "paged_adamw_32bit",
    "adafactor": "adafactor", "sgd": "sgd",
}
_TASKS = {"causal-lm": "sft", "sft": "sft", "seq-classification": "classify", "classify": "classify",
          "dpo": "dpo", "embed": "embed", "embedding": "embed"}
_ATTN = {"sdpa": "sdpa", "fa2": "flash", "flash": "flash", "flash_attention_2": "flash", "eager": "eager"}


@dataclass(frozen=True)
class Case:
    """One published run turned into estimator inputs, with what was measured."""

    row_id: str
    label: str
    arch: Architecture
    setup: TrainingSetup
    metric: str
    measured_gib: float | None
    gpu: str
    tokens_per_s: float | None = None
    speed_all_gpus: bool = False


@dataclass(frozen=True)
class Score:
    """Signed relative errors ((estimate - measured) / measured) and the summary figures."""

    errors: tuple[float, ...]

    @property
    def median_abs(self) -> float:
        return statistics.median(abs(e) for e in self.errors)

    def share_within(self, bound: float) -> float:
        return sum(abs(e) <= bound for e in self.errors) / len(self.errors)

    def share_below(self, bound: float) -> float:
        """Share of rows whose estimate is lower than measured by more than ``bound``."""
        return sum(e < -bound for e in self.errors) / len(self.errors)

    def share_above(self, bound: float) -> float:
        return sum(e > bound for e in self.errors) / len(self.errors)


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1", "y")


def _int(value: str, default: int = 0) -> int:
    return int(float(value)) if value.strip() else default


def row_config(row: dict[str, str]) -> dict[str, Any]:
    """An HF-style config dict from a row's architecture columns."""
    config: dict[str, Any] = {
        "model_type": row["arch_model_type"], "hidden_size": _int(row["hidden_size"]),
        "num_hidden_layers": _int(row["num_layers"]), "num_attention_heads": _int(row["num_attention_heads"]),
        "intermediate_size": _int(row["intermediate_size"]), "vocab_size": _int(row["vocab_size"]),
        "max_position_embeddings": _int(row["max_position_embeddings"], 2048),
        "tie_word_embeddings": _yes(row["tie_word_embeddings"]),
    }
    for key, column in (("num_key_value_heads", "num_key_value_heads"), ("head_dim", "head_dim"),
                        ("num_experts", "num_experts"), ("num_experts_per_tok", "num_experts_per_tok"),
                        ("moe_intermediate_size", "moe_intermediate_size")):
        if row.get(column, "").strip():
            config[key] = _int(row[column])
    if config["model_type"] == "falcon":
        config["multi_query"] = config.get("num_key_value_heads", 1) == 1
    if config["model_type"] in ("bert", "roberta"):
        config["architectures"] = ["ForSequenceClassification"]
    return config


def lora_targets(text: str) -> tuple[tuple[str, ...] | None, bool]:
    """('q,v' → (q, v)), 'all_linear' → None (PEFT's all-linear), '+head' → LoRA on the LM head too."""
    cleaned = text.strip().lower().replace(" ", "")
    on_head = cleaned.endswith("+head")
    cleaned = cleaned.removesuffix("+head")
    if cleaned in ("", "all_linear", "all-linear", "all"):
        return None, on_head
    return tuple(part for part in cleaned.split(",") if part), on_head


def metric_kind(text: str) -> str:
    """What a row's 'metric' column measured, in the estimator's three views."""
    lowered = text.lower()
    if "nvidia-smi" in lowered:
        return "nvidia-smi"
    if "allocated" in lowered or "active" in lowered:
        return "allocated"
    return "reserved"


def _framework(text: str) -> str:
    lowered = text.lower()
    if "torchtune" in lowered:
        return "torchtune"
    if "litgpt" in lowered:
        return "litgpt"
    return "hf"


STACK_OF_FRAMEWORK = {"hf": "hf-legacy", "torchtune": "torchtune", "litgpt": "litgpt"}


def row_to_case(row: dict[str, str]) -> Case:
    framework = _framework(row.get("framework", ""))
    targets, on_head = lora_targets(row.get("lora_targets", ""))
    method = row["method"].strip().lower()
    quant = row.get("quant", "none").strip().lower() or "none"
    gpus = max(1, _int(row.get("num_gpus", "1"), 1))
    sharding = row.get("sharding", "none").strip().lower() or "none"
    reason = row.get("clean_reason", "").lower()
    compiled = _yes(row["compile"]) if row.get("compile", "").strip() else "compile" in reason
    setup = TrainingSetup(
        task=_TASKS.get(row.get("task", "causal-lm").strip().lower(), "sft"), method=method,
        quant="nf4" if method == "qlora" and quant == "none" else quant,
        precision=row.get("precision", "bf16").strip().lower() or "bf16",
        optimizer=_OPTIMIZERS.get(row.get("optimizer", "adamw").strip().lower(), "adamw"),
        seq_len=_int(row["seq_len"]), micro_batch=_int(row["batch_size"], 1), grad_accum=1,
        grad_ckpt=_yes(row.get("grad_ckpt", "")), attn=_ATTN.get(row.get("attn", "sdpa").strip().lower(), "sdpa"),
        packing=_yes(row.get("packed", "")), lora_r=_int(row.get("lora_rank", ""), 16), lora_targets=targets,
        lora_dropout=0.0 if framework == "torchtune" else 0.05, lora_on_head=on_head, gpus=gpus,
        sharding=("ddp" if gpus > 1 else "none") if sharding == "none" else sharding,
        chunked_ce=_yes(row.get("chunked_ce", "")), optimizer_in_backward=_yes(row.get("opt_in_bwd", "")),
        activation_offload="activation" in row.get("offload", "").lower(), compiled=compiled,
    )
    # the stack a user would name for this row (published HF runs predate TRL's fused LM head): the same
    # knobs `plan --stack` sets, so scoring and planning share one path
    setup = with_stack(setup, STACK_OF_FRAMEWORK[framework])
    measured = row.get("peak_gib", "").strip()
    speed = row.get("tokens_per_s", "").strip()
    return Case(
        row_id=row.get("row_id", ""), label=f"{row.get('model', '')} {method} {row.get('gpu', '')}",
        arch=architecture_from_config(row_config(row), source=f"row {row.get('row_id', '?')}"),
        setup=setup.validated(), metric=metric_kind(row.get("metric", "")),
        measured_gib=float(measured) if measured else None, gpu=row.get("gpu", ""),
        tokens_per_s=float(speed) if speed else None,
        speed_all_gpus=row.get("speed_scope", "").strip().lower() == "all gpus",
    )


def load_cases(path: str | Path) -> list[Case]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [row_to_case(row) for row in csv.DictReader(handle)]
