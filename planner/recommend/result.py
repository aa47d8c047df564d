"""The value types of a recommendation and their JSON form (CONTRACTS §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from planner.catalog.prices import rate_text
from planner.estimate.setup import TrainingSetup
from planner.models import ResolvedModel
from planner.plan import DataSize
from planner.recommend.costs import RunCost, usd

# With no deadline given, a run longer than this is not a plan anyone would follow (assumption).
DEFAULT_DEADLINE_HOURS = 168.0


@dataclass(frozen=True)
class Job:
    """What to train: the resolved model, the estimator inputs, and how much data."""

    model: ResolvedModel
    setup: TrainingSetup
    data: DataSize

    def __post_init__(self) -> None:
        from planner.limits import check_model_job

        check_model_job(self.model, self.setup)  # a job no run can do is refused before it is ranked


@dataclass(frozen=True)
class Constraints:
    """What the user asked for. ``providers`` holds launcher or cloud names; None means "any"."""

    deadline_hours: float | None = None
    max_usd: Decimal | None = None
    max_usd_per_hour: Decimal | None = None
    spot: bool = False
    providers: frozenset[str] | None = None
    gpu_types: frozenset[str] | None = None
    gpu_counts: frozenset[int] | None = None
    sharding: str | None = None
    nodes: frozenset[int] | None = None
    """Machines per run to consider; None: one, and several where one node is not enough or too slow."""

    @property
    def deadline(self) -> float:
        return self.deadline_hours or DEFAULT_DEADLINE_HOURS

    def allows(self, launcher: str, cloud: str) -> bool:
        return self.providers is None or bool({launcher, cloud} & self.providers)


@dataclass(frozen=True)
class Candidate:
    """One place the job could run, with the numbers that rank it and a line that explains them."""

    provider: str
    cloud: str
    gpu: str
    gpus: int
    spot: bool
    region: str
    device: str
    kind: str
    sharding: str
    fits: bool
    peak_gib: float
    memory_gib: float
    train_hours: float
    tokens_per_s: float
    cost: RunCost
    price_source: str
    price_as_of: date
    price_approx: bool
    price_stale: bool
    launchable: bool
    why: str
    approximate: bool = False
    meets_deadline: bool = False
    within_budget: bool = True
    tight: bool = False
    """It fits by the estimate, but the estimate's upper bound does not (``planner.estimate.bounds``)."""
    reason: str = ""
    tags: tuple[str, ...] = field(default=())
    offering: str = ""  # the price row's offering (RunPod: secure-cloud / community-cloud), for the launcher
    nodes: int = 1  # machines, each with ``gpus`` GPUs (cost and time are for all of them)
    calibration: dict | None = None
    """The correction the team's past runs of this kind applied (``planner.learning.Correction.to_json``)."""

    @property
    def headroom_gib(self) -> float:
        return round(self.memory_gib - self.peak_gib, 2)

    @property
    def hours(self) -> float:
        """Wall-clock from launch to done: training plus the fixed setup and download time."""
        return self.train_hours + self.cost.fixed_hours

    @property
    def usd(self) -> Decimal:
        return usd(self.cost.total)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider, "cloud": self.cloud, "gpu": self.gpu, "gpus": self.gpus, "nodes": self.nodes,
            "spot": self.spot,
            "region": self.region, "device": self.device, "kind": self.kind, "sharding": self.sharding,
            "fits": self.fits, "fit": "no" if not self.fits else "tight" if self.tight else "yes",
            "peak_gib": self.peak_gib, "memory_gib": self.memory_gib,
            "headroom_gib": self.headroom_gib, "hours": round(self.hours, 3),
            "train_hours": round(self.train_hours, 3), "tokens_per_s": round(self.tokens_per_s, 1),
            "usd": str(self.usd), "usd_per_hour": rate_text(self.cost.usd_per_hour),
            "cost_terms": {name: str(value) for name, value in self.cost.terms.items()},
            "price_source": self.price_source, "price_as_of": self.price_as_of.isoformat(),
            "price_approx": self.price_approx, "price_stale": self.price_stale,
            "launchable": self.launchable, "why": self.why or None, "approximate": self.approximate,
            "meets_deadline": self.meets_deadline, "within_budget": self.within_budget,
            "reason": self.reason, "tags": list(self.tags), "offering": self.offering,
            "calibration": self.calibration,
        }
