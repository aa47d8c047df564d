"""Benchmark: `tuneplan plan` cold start against `python -c "import pydantic, yaml"`, and the time of
one estimate (and of a full plan over every catalog GPU) in-process.

Run: .venv/bin/python bench/bench_plan.py [--runs 15]
Targets (issue: planner engine): cold start ≤ 3× the baseline; a single estimate ≤ 1 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAN_ARGS = ["plan", "--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "qlora", "--json"]


def wall(cmd: list[str], runs: int) -> float:
    """Median wall-clock seconds of ``cmd`` over ``runs`` runs (after one warm-up for the page cache)."""
    subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def per_call(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = sys.executable
    baseline = wall([python, "-c", "import pydantic, yaml"], args.runs)
    cli = wall([python, "-m", "tuneplan.cli.app", *PLAN_ARGS], args.runs)
    print(f"baseline  python -c 'import pydantic, yaml'   {baseline * 1000:7.1f} ms")
    print(f"tuneplan  {' '.join(PLAN_ARGS):32} {cli * 1000:7.1f} ms   ratio {cli / baseline:.2f}x (target ≤ 3x)")

    sys.path.insert(0, str(ROOT))
    from planner.estimate.memory import estimate_memory
    from planner.estimate.setup import TrainingSetup
    from planner.models import resolve_local
    from planner.plan import DataSize, make_plan

    model = resolve_local("Qwen/Qwen2.5-7B-Instruct")
    setup = TrainingSetup(method="qlora", quant="nf4", micro_batch=2)
    one = per_call(lambda: estimate_memory(model.arch, setup), 2000)
    full = per_call(lambda: make_plan(model, setup, DataSize(5000, 600, 3)), 200)
    print(f"single memory estimate                       {one * 1e6:7.1f} µs (target ≤ 1 ms)")
    print(f"full plan (memory + time on {25} GPUs)          {full * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
