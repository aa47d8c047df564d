"""The ``grpo:`` section of the job spec: what a ``task: grpo`` run generates and how it scores the answers (the
grpo template reads the same keys, flattened)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from planner.spec_base import LIMITS, _count, _Strict

BUILTIN_REWARDS = ("exact", "numeric", "format", "length")
REWARD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


class GrpoSettings(_Strict):
    """Reinforcement learning with verifiable rewards (``task: grpo``, TRL's GRPOTrainer): each prompt is answered
    ``num_generations`` times, the answers are scored by the reward functions, and each answer is pushed towards
    or away from by how far its reward is from its group's mean."""

    rewards: list[str] = Field(default_factory=lambda: ["exact"], min_length=1, max_length=16)
    """Built-in rewards (exact, numeric, format, length) and functions of ``reward_file``, summed with weight 1."""
    reward_file: str | None = Field(None, max_length=4096)
    num_generations: int = Field(4, ge=2, le=1024)
    max_prompt_length: int = Field(256, gt=0, le=LIMITS["seq_len"])
    max_completion_length: int = Field(256, gt=0, le=LIMITS["seq_len"])
    kl_coef: float = Field(0.0, ge=0.0, le=100.0, allow_inf_nan=False)
    temperature: float = Field(1.0, gt=0.0, le=100.0, allow_inf_nan=False)
    format_regex: str = Field(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", min_length=1, max_length=1000)
    length_target: int | None = _count(LIMITS["seq_len"])

    @field_validator("rewards")
    @classmethod
    def _reward_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not REWARD_NAME.fullmatch(name):
                raise ValueError(f"{name[:40]!r} is neither a built-in reward ({', '.join(BUILTIN_REWARDS)}) nor a "
                                 "Python function name")
        if len(set(names)) != len(names):
            raise ValueError("a reward is named twice")
        return names

    @field_validator("format_regex")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _file_for_own_rewards(self) -> "GrpoSettings":
        own = [name for name in self.rewards if name not in BUILTIN_REWARDS]
        if own and not self.reward_file:
            raise ValueError(f"reward {own[0]!r} is not built in ({', '.join(BUILTIN_REWARDS)}); name the Python "
                             "file that defines it in grpo.reward_file")
        return self
