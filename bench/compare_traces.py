"""Compare the analytic memory estimate with traced tensor peaks (bench/results/trace_grid.csv).

The trace measures tensor bytes only, so the comparison uses the estimate's tensor total (allocated
view without the fixed workspace). Usage:
    .venv/bin/python bench/compare_traces.py [--csv bench/results/trace_grid.csv] [--rows]
Target (issue: planner engine): ≤ 5 % error on tensor bytes.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.arch import architecture_from_config  # noqa: E402
from planner.estimate.memory import WORKSPACE_BYTES, estimate_memory  # noqa: E402
from planner.estimate.setup import TrainingSetup  # noqa: E402

ARCH_COLUMNS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "head_dim", "intermediate_size", "vocab_size", "num_experts", "num_experts_per_tok",
                "moe_intermediate_size")


def row_arch(row: dict[str, str]):
    config = {key: int(float(row[key])) for key in ARCH_COLUMNS[1:] if row.get(key, "").strip()}
    config["model_type"] = row["model_type"]
    config["tie_word_embeddings"] = row["tie_word_embeddings"] == "True"
    if row["task"] in ("classify", "embed") or row["model_type"] == "bert":
        config.update(max_position_embeddings=512, type_vocab_size=2)
    else:
        config["architectures"] = ["ForCausalLM"]
    return architecture_from_config(config, source=f"trace row {row['row']}")


def row_setup(row: dict[str, str]) -> TrainingSetup:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=str(ROOT / "bench/results/trace_grid.csv"))
    parser.add_argument("--rows", action="store_true")
    args = parser.parse_args()
    errors, by_group = [], {}
    with open(args.csv, encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if not r.get("error") and r.get("peak_bytes")]
    for row in rows:
        estimate = estimate_memory(row_arch(row), row_setup(row))
        tensors = estimate.allocated - WORKSPACE_BYTES
        error = (tensors - float(row["peak_bytes"])) / float(row["peak_bytes"])
        errors.append(error)
        key = f"{row['task']}/{row['method']}/{row['lm_head']}"
        by_group.setdefault(key, []).append(error)
        if args.rows:
            print(f"{row['row']:>4} {row['model']:16} {key:20} seq {row['seq_len']:>5} mb {row['micro_batch']} "
                  f"gc {row['grad_ckpt'][0]} {row['optimizer']:13} traced {float(row['peak_gib']):7.2f} "
                  f"estimate {tensors / 2**30:7.2f} {error:+.1%}")
    for key, errs in sorted(by_group.items()):
        print(f"  {key:24} n={len(errs):3}  median |err| {statistics.median(abs(e) for e in errs):.1%}  "
              f"worst {max(errs, key=abs):+.1%}")
    within = sum(abs(e) <= 0.05 for e in errors) / len(errors)
    print(f"trace grid: {len(errors)} rows, median |error| {statistics.median(abs(e) for e in errors):.1%}, "
          f"mean |error| {statistics.mean(abs(e) for e in errors):.1%}, within ±5 %: {within:.0%}")


if __name__ == "__main__":
    main()
