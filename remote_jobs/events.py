"""What the lifecycle tells a front end while it works: plain dataclasses, no rich/textual types.

The CLI draws a progress bar from them, the TUI will post them as messages; ``remote_jobs`` never knows
which. Every event names its run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class StateChanged:
    run_id: str
    state: str
    message: str = ""


@dataclass(frozen=True)
class Progress:
    run_id: str
    step: int
    total_steps: int | None
    loss: float | None
    eta_s: float | None
    epoch: float | None = None
    reward: float | None = None
    """GRPO: the mean reward of the answers sampled at this step, and its spread (standard deviation)."""
    reward_std: float | None = None


@dataclass(frozen=True)
class CostUpdate:
    run_id: str
    elapsed_s: float
    usd: Decimal
    cap_usd: Decimal | None


@dataclass(frozen=True)
class Note:
    run_id: str
    message: str


Event = StateChanged | Progress | CostUpdate | Note
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The sink for callers that do not display anything."""
