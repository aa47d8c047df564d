"""Time a run spends saving checkpoints and evaluating, beside training: the part of a launch estimate that
``save_steps`` and ``eval_steps`` decide. A tiny job saving every 10 steps spends a quarter of its time here;
a full fine-tune of a 7B model writes ~80 GB per checkpoint, minutes each.
"""

from __future__ import annotations

import math

from planner.arch import Architecture
from planner.estimate.constants import BYTES as K_BYTES
from planner.estimate.params import trainable_params
from planner.estimate.setup import TrainingSetup

# Fixed cost of one save and one evaluation pass (folders, rng states, trainer state, the eval loop and its
# metrics): with the tiny example on 2 CPU cores, 100 saves and 100 evaluations of 8 examples added 5.4 s to
# 1,000 steps (24.3 s without, 29.7 s with): 54 ms a pair. The split between the two is assumed.
SAVE_FIXED_S = 0.035
EVAL_FIXED_S = 0.015
# Sustained write of a local NVMe or a cloud VM's SSD (assumption); a checkpoint is written once per save.
DISK_WRITE_GB_S = 1.0
FORWARD_SHARE = 1 / 3  # an evaluation runs the forward pass only: about a third of a training step's work
TEMPLATE_SAVE_STEPS = 200  # the templates' default when the spec names none


def checkpoint_bytes(arch: Architecture, setup: TrainingSetup) -> float:
    """What one checkpoint holds: the trainable weights (fp32 adapters, or the model in its dtype for a full
    fine-tune) and their optimizer state."""
    trainable = trainable_params(arch, setup)
    weight = 4 if setup.is_lora else K_BYTES[setup.precision]
    state = 2 if "8bit" in setup.optimizer else 0 if setup.optimizer == "sgd" else 8
    return trainable * (weight + state)


def save_seconds(arch: Architecture, setup: TrainingSetup) -> float:
    return SAVE_FIXED_S + checkpoint_bytes(arch, setup) / (DISK_WRITE_GB_S * 1e9)


def side_seconds(arch: Architecture, setup: TrainingSetup, steps: int, tokens_per_s: float,
                 save_every: int | None, eval_every: int | None, eval_tokens: float) -> float:
    """Seconds of saving and evaluating in a run of ``steps`` optimizer steps training at ``tokens_per_s``:
    a save every ``save_every`` steps and at the end, an evaluation of ``eval_tokens`` every ``eval_every``
    steps (none when None)."""
    saves = math.floor(steps / (save_every or TEMPLATE_SAVE_STEPS)) + 1
    seconds = saves * save_seconds(arch, setup)
    if eval_every and eval_tokens > 0 and tokens_per_s > 0:
        passes = math.floor(steps / eval_every) + 1
        seconds += passes * (EVAL_FIXED_S + eval_tokens / tokens_per_s * FORWARD_SHARE)
    return seconds
