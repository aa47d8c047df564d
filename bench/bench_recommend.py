"""Benchmark: ranking the full price catalog (every offer × GPU count, spot prices too, plus a local CPU,
Mac and GPU) for one job, in-process.

Run: .venv/bin/python bench/bench_recommend.py [--runs 50]
Target (issue 3): ≤ 50 ms per ranking. The first call also builds the catalogs (reported separately).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog.prices import snapshot  # noqa: E402
from planner.estimate.setup import TrainingSetup  # noqa: E402
from planner.models import resolve_local  # noqa: E402
from planner.plan import DataSize  # noqa: E402
from planner.recommend import Constraints, Job, LocalMachine, recommend  # noqa: E402
from planner.recommend.local import LocalCpu, LocalGpu, LocalMac  # noqa: E402

TODAY = date(2026, 11, 26)
MACHINE = LocalMachine(cpu=LocalCpu("AMD Ryzen 9 7950X", 16, 64.0, "avx512"), mac=LocalMac("M3 Max", 64),
                       gpus=(LocalGpu("RTX4090", 2),))
JOBS = {
    "8B QLoRA SFT": ("meta-llama/Llama-3.1-8B-Instruct", TrainingSetup(method="qlora", quant="nf4", micro_batch=2),
                     DataSize(5000, 600, 3)),
    "70B LoRA": ("meta-llama/Llama-3.1-70B-Instruct", TrainingSetup(method="lora", seq_len=4096, packing=True),
                 DataSize(20000, 900, 1)),
    "BERT classifier": ("google-bert/bert-base-uncased",
                        TrainingSetup(task="classify", method="full", seq_len=256, micro_batch=32, grad_ckpt=False),
                        DataSize(20000, 128, 3)),
}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    constraints = Constraints(spot=True)
    for label, (model_id, setup, data) in JOBS.items():
        job = Job(resolve_local(model_id), setup, data)

        def rank(job: Job = job):
            return recommend(job, snapshot(), MACHINE, constraints, TODAY)

        cold = timed(rank)
        samples = [timed(rank) for _ in range(args.runs)]
        count = len(rank().candidates)
        print(f"{label:16} {count:4d} candidates   median {statistics.median(samples) * 1e3:6.1f} ms   "
              f"max {max(samples) * 1e3:6.1f} ms   first call {cold * 1e3:6.1f} ms   (target ≤ 50 ms)")


if __name__ == "__main__":
    main()
