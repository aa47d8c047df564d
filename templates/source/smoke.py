"""Smoke job: checks a provider, the credentials and the launcher's plumbing for cents; no ML at all.

Usage:
    python smoke.py --config job.json
    python smoke.py --output-dir out --steps 20 --step-seconds 0.5 [--fail-at 7]

It reads the same job file as the training templates (defaults < --config < flags, unknown keys refused),
writes smoke.txt to the output dir, prints one TUNEPLAN_PROGRESS line per step (a made-up, falling loss),
keeps a checkpoint per step under checkpoints/ (a rerun in the same dir resumes after it), and ends with
metrics.json, resolved_config.json and manifest.json (written last) and the TUNEPLAN_DONE line. Steps:
--steps, else training.max_steps, else 5; --step-seconds makes a run last a chosen time; --fail-at N makes
step N fail (exit 1) to test failure handling. Exit codes: 0 done, 2 bad input, 3 --require-resume without a
checkpoint, 1 anything else. Standard library only (YAML configs need pyyaml): runs in well under a second.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

TASK = "smoke"
METHODS = ("lora", "full", "qlora", "spectrum")  # any: a smoke job may stand in for any training job
REQUIRED = ("output_dir",)
FORMATS = dict.fromkeys(("chat", "prompt-completion", "text", "preference", "text-label", "pairs",
                         "triplets"))
LIMITS: dict = {}


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


EXTRA_FLAGS = (
    ("--steps", {"type": int, "help": "number of steps (default: training.max_steps, else 5)"}),
    ("--step-seconds", {"type": float, "default": 0.0, "help": "sleep per step, to make a run last"}),
    ("--fail-at", {"type": int, "help": "fail at this step with exit code 1"}),
)


def save_checkpoint(out: Path, step: int) -> None:
    """Like a trainer's: the state file is written last, and only the newest checkpoint is kept."""
    ckpt = out / "checkpoints" / f"checkpoint-{step}"
    ckpt.mkdir(parents=True, exist_ok=True)
    write_json(ckpt / "trainer_state.json", {"global_step": step})
    for old in (out / "checkpoints").glob("checkpoint-*"):
        if old != ckpt:
            shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str]) -> None:
    started, args = time.monotonic(), parse_args(argv, EXTRA_FLAGS)
    cfg = resolve_config(args)
    validate_config(cfg)
    out, steps = Path(cfg["output_dir"]), args.steps or cfg["training.max_steps"] or 5
    if args.validate_only:
        print(f"validate-only: ok {json.dumps({'steps': steps})}", flush=True)
        return
    resume = find_resume(out, args.require_resume)
    first = json.loads((Path(resume) / "trainer_state.json").read_text())["global_step"] if resume else 0
    prepare_output(out)
    (out / "smoke.txt").write_text(f"tuneplan smoke job '{cfg['name']}': {steps} steps\n", encoding="utf-8")
    loss = None
    for step in range(first + 1, steps + 1):
        time.sleep(args.step_seconds)
        if step == args.fail_at:
            raise JobError(f"forced failure at step {step} (--fail-at)")
        save_checkpoint(out, step)
        loss = round(2.0 / step**0.5, 4)
        elapsed = time.monotonic() - started
        emit("PROGRESS", {"step": step, "total_steps": steps, "epoch": round(step / steps, 4), "loss": loss,
                          "lr": cfg["training.learning_rate"], "tokens_per_s": 0.0,
                          "eta_s": round(elapsed / (step - first) * (steps - step))})
    write_json(out / "metrics.json", {
        "task": TASK, "method": cfg["method"], "train": {"train_loss": loss, "steps": steps}, "eval": {},
        "resumed_from": resume, "wall_s": round(time.monotonic() - started, 3), "tokens": 0,
        "tokens_per_s": 0.0, "peak_mem_allocated_gib": None, "peak_mem_reserved_gib": None, "device": "cpu",
        "versions": package_versions(),
    })
    write_json(out / "resolved_config.json", nested(cfg))
    write_manifest(out)


if __name__ == "__main__":
    run(main)
