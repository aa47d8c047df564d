"""Compare the analytic memory estimate with traced tensor peaks (bench/results/trace_grid.csv).

The trace measures tensor bytes only, so the comparison uses the estimate's tensor total (before the
CUDA overheads that the views allocated/reserved/nvidia-smi add). Usage:
    .venv/bin/python bench/compare_traces.py [--csv bench/results/trace_grid.csv] [--rows]
Target (issue: planner engine): ≤ 5 % error on tensor bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.accuracy import trace_results  # noqa: E402

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=str(ROOT / "bench/results/trace_grid.csv"))
    parser.add_argument("--rows", action="store_true")
    args = parser.parse_args()
    errors, by_group = [], {}
    for row, result in trace_results(args.csv):
        errors.append(result.error)
        key = f"{row['task']}/{row['method']}/{row['lm_head']}"
        by_group.setdefault(key, []).append(result.error)
        if args.rows:
            print(f"{row['row']:>4} {row['model']:16} {key:20} seq {row['seq_len']:>5} mb {row['micro_batch']} "
                  f"gc {row['grad_ckpt'][0]} {row['optimizer']:13} traced {result.measured:7.2f} "
                  f"estimate {result.estimate:7.2f} {result.error:+.1%}")
    for key, errs in sorted(by_group.items()):
        print(f"  {key:24} n={len(errs):3}  median |err| {statistics.median(abs(e) for e in errs):.1%}  "
              f"worst {max(errs, key=abs):+.1%}")
    within = sum(abs(e) <= 0.05 for e in errors) / len(errors)
    print(f"trace grid: {len(errors)} rows, median |error| {statistics.median(abs(e) for e in errors):.1%}, "
          f"mean |error| {statistics.mean(abs(e) for e in errors):.1%}, within ±5 %: {within:.0%}")


if __name__ == "__main__":
    main()
