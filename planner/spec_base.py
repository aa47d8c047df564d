"""What every section of the job spec shares: strict models (an unknown key is an error, never ignored) and the
bounds of every size, so ``planner.spec`` and its sections (``planner.spec_grpo``) check values the same way.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Sizes have upper bounds far beyond any real run, so a typo (or 99999999999999999999999) is one clear line
# naming the field instead of an overflow deep in the estimator.
MAX_SPEC_BYTES = 1024 * 1024
BIG = 1_000_000_000
# The largest value each size may take (the CLI's flags check against the same numbers).
LIMITS = {"seq_len": 100_000_000, "micro_batch_size": 1_000_000, "grad_accum": 1_000_000, "lora_r": 8192,
          "gpus": 1024, "nodes": 64, "cpu_processes": 64, "examples": 1_000 * BIG, "avg_tokens": 100_000_000, "epochs": 10_000}


def _count(most: int):
    """An optional whole number in (0, most]."""
    return Field(None, gt=0, le=most)


def _amount(most: float):
    """An optional finite amount in (0, most]."""
    return Field(None, gt=0, le=most, allow_inf_nan=False)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
