"""Splitting a run's hard runtime limit into Modal calls of at most 24 hours.

A Modal function call cannot run longer than 24 h (its ``timeout`` is capped there). A longer job runs as
segments: each call stops the template a little before its own timeout (SIGTERM, so it ends cleanly after its
last checkpoint), and the next call reruns the template in the same output folder on the Volume, where the
template resumes from that checkpoint. The calls' limits add up to at most the run's limit, so the budget still holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MODAL_MAX_TIMEOUT_S = 24 * 3600
MODAL_MIN_TIMEOUT_S = 1
STOP_GRACE_FRACTION = 0.05  # a segment stops its job this share of its timeout early ...
STOP_GRACE_MAX_S = 600      # ... but never more than 10 minutes early


@dataclass(frozen=True)
class SegmentPlan:
    """How a run's limit becomes calls: ``count`` equal calls of ``timeout_s`` (Modal's hard limit on each)."""

    total_s: int
    count: int
    timeout_s: int

    @property
    def stop_after_s(self) -> float:
        """When a call stops its job itself, before Modal's timeout ends the container."""
        return self.timeout_s - min(STOP_GRACE_MAX_S, self.timeout_s * STOP_GRACE_FRACTION)


def plan_segments(total_s: int, cap_s: int = MODAL_MAX_TIMEOUT_S) -> SegmentPlan:
    """The fewest equal calls of at most ``cap_s`` that run ``total_s`` seconds; their limits never add up to
    more than ``total_s`` (each is rounded down to a whole second)."""
    total_s = max(MODAL_MIN_TIMEOUT_S, int(total_s))
    count = max(1, math.ceil(total_s / cap_s))
    return SegmentPlan(total_s, count, max(MODAL_MIN_TIMEOUT_S, total_s // count))
