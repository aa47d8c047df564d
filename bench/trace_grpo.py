"""The planner's GRPO memory estimate against a traced GRPO step, on real model sizes (meta device, no GPU).

Each setup is traced with ``providers.meta_trace`` (generation with the KV cache, the reference's scores when
the KL penalty needs them, then the policy's forward and backward through TRL's fused head and the optimizer
step, twice) and estimated with ``planner.estimate.memory``; both are tensor bytes (no CUDA context or
allocator overhead), so they compare directly. Writes bench/results/trace_grpo.csv.

    .venv/bin/python bench/trace_grpo.py            # the grid (about an hour on 2 cores: every answer token
                                                    # is one traced forward of the whole model)
    .venv/bin/python bench/trace_grpo.py --quick    # two rows
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))
from trace_grid import MODELS  # noqa: E402
from planner.arch import architecture_from_config  # noqa: E402
from planner.estimate.memory import estimate_memory  # noqa: E402
from planner.estimate.setup import TrainingSetup  # noqa: E402
from planner.units import GIB  # noqa: E402
from providers.meta_trace import trace_training_step  # noqa: E402

# (model, method, precision, grad_ckpt, prompt, completion, answers per micro-batch, kl_coef)
GRID = [
    ("qwen2.5-0.5b", "lora", "bf16", True, 256, 512, 8, 0.0),
    ("qwen2.5-0.5b", "full", "bf16", True, 256, 512, 8, 0.04),
    ("llama-3.2-1b", "lora", "bf16", True, 128, 1024, 8, 0.04),
    ("llama-3.2-1b", "full", "bf16", False, 256, 256, 16, 0.0),
    ("qwen2.5-7b", "lora", "bf16", True, 256, 1024, 8, 0.0),
    ("llama-3.1-8b", "lora", "bf16", True, 256, 512, 16, 0.04),
]
QUICK = GRID[:2]


def planner_setup(method: str, precision: str, grad_ckpt: bool, prompt: int, completion: int, answers: int,
                  kl: float) -> TrainingSetup:
    """What ``setup_from_spec`` makes of a grpo spec with these numbers (one GPU, no accumulation)."""
    return TrainingSetup(task="grpo", method=method, precision=precision, grad_ckpt=grad_ckpt, packing=True,
                         seq_len=prompt + completion, micro_batch=answers, num_generations=answers,
                         completion_len=completion, kl_coef=kl).validated()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench/results/trace_grpo.csv"))
    args = parser.parse_args()
    rows, errors = [], []
    for name, method, precision, ckpt, prompt, completion, answers, kl in QUICK if args.quick else GRID:
        started = time.perf_counter()
        traced = trace_training_step(MODELS[name], task="grpo", method=method, precision=precision,
                                     grad_ckpt=ckpt, seq_len=prompt + completion, completion_len=completion,
                                     micro_batch=answers, kl_coef=kl, lm_head="chunked")
        config = {**MODELS[name], "architectures": ["ForCausalLM"]}
        estimate = estimate_memory(architecture_from_config(config, source=name),
                                   planner_setup(method, precision, ckpt, prompt, completion, answers, kl))
        error = estimate.tensors / traced.peak_bytes - 1
        errors.append(error)
        row = {"model": name, "method": method, "precision": precision, "grad_ckpt": ckpt, "prompt": prompt,
               "completion": completion, "answers": answers, "kl_coef": kl,
               "traced_gib": round(traced.peak_gib, 3), "traced_phase": traced.peak_phase,
               "estimate_gib": round(estimate.tensors / GIB, 3), "estimate_phase": estimate.phase,
               "error": round(error, 4), "trace_seconds": round(time.perf_counter() - started, 1)}
        rows.append(row)
        print(f"{name:13} {method:4} ckpt {str(ckpt)[0]} {prompt:>4}+{completion:<5} ×{answers:<3} kl {kl:<4} "
              f"traced {row['traced_gib']:7.2f} GiB ({traced.peak_phase:10}) estimate {row['estimate_gib']:7.2f} "
              f"GiB ({estimate.phase}) {error:+.1%}", flush=True)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"grpo traces: {len(errors)} rows, median |error| {statistics.median(abs(e) for e in errors):.1%}, "
          f"worst {max(errors, key=abs):+.1%} -> {args.out}")


if __name__ == "__main__":
    main()
