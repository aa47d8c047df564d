"""Corrections learnt from the team's own finished runs: how much slower or faster, heavier or lighter, a kind of
run really was than the planner said, so the next plan of that kind starts from what was measured.

Pure: it takes past runs (plain values that ``remote_jobs.calibration`` reads from the ledger) and returns
corrections; nothing here reads a file or a clock.

Kinds: runs are grouped by (device, method, task, stack) — the device as the ledger names it (``L4``, ``H100``,
``cpu``). Per kind:

- time factor: measured ÷ estimated time. Where a run's template reported tokens/s and the launch recorded the
  estimated tokens/s, the ratio of those (the training loop alone); else the run's provisioning + running
  seconds over the estimated hours (everything the launch estimate priced).
- memory factor: measured ÷ estimated peak GiB, where the run's template reported its peak.
- provisioning: the median seconds the machine took to come up;
- overhead: the median seconds of the job that were not the training loop (interpreter and library start, model
  load, saves, evaluation): running seconds minus tokens ÷ measured tokens/s.
- price factor: what the provider billed ÷ the recorded rate × the hours, where there is a bill. A price belongs to
  a provider and a device, not to a kind of job, so it is learnt per (provider, device) from every finished run
  with a bill (``Learned.prices``), and it scales that provider's rate for that device.

Only runs that succeeded count (a failed or cancelled run stops early and says nothing about speed). Outliers: from
three runs on, a ratio more than twice or less than half the median ratio is dropped (a run that waited on a
download or shared its machine). What is left is shrunk toward 1 as if one more run had matched the estimate
exactly: factor = 1 + (median − 1) × n / (n + 1). One run moves the estimate half-way, seven runs seven eighths.
The spread is the median absolute deviation of the ratios, so a reader sees how steady the kind is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

OUTLIER_RATIO = 2.0
MIN_RUNS_FOR_OUTLIERS = 3
PRIOR_RUNS = 1


@dataclass(frozen=True)
class PastRun:
    """What one finished run measured against what its launch estimated (None where unknown)."""

    device: str
    method: str
    task: str
    stack: str
    succeeded: bool
    provider: str = ""
    estimate_hours: float | None = None
    actual_hours: float | None = None
    estimate_tokens_per_s: float | None = None
    measured_tokens_per_s: float | None = None
    estimate_peak_gib: float | None = None
    measured_peak_gib: float | None = None
    provisioning_s: float | None = None
    overhead_s: float | None = None
    tokens: float | None = None
    catalog_usd: float | None = None
    billed_usd: float | None = None

    @property
    def kind(self) -> tuple[str, str, str, str]:
        return (self.device, self.method, self.task, self.stack)

    @property
    def time_ratio(self) -> float | None:
        if self.estimate_tokens_per_s and self.measured_tokens_per_s:
            return self.estimate_tokens_per_s / self.measured_tokens_per_s
        if self.estimate_hours and self.actual_hours:
            return self.actual_hours / self.estimate_hours
        return None

    @property
    def memory_ratio(self) -> float | None:
        if self.estimate_peak_gib and self.measured_peak_gib:
            return self.measured_peak_gib / self.estimate_peak_gib
        return None

    @property
    def price_ratio(self) -> float | None:
        if self.catalog_usd and self.billed_usd:
            return self.billed_usd / self.catalog_usd
        return None


@dataclass(frozen=True)
class Factor:
    """A shrunk median ratio, the runs behind it, their spread, and how many were dropped as outliers."""

    value: float
    runs: int
    raw: float
    spread: float
    dropped: int = 0

    def to_json(self) -> dict:
        return {"factor": round(self.value, 4), "runs": self.runs, "median_ratio": round(self.raw, 4),
                "spread": round(self.spread, 4), "dropped_outliers": self.dropped}


@dataclass(frozen=True)
class Correction:
    """What the runs of one kind teach."""

    kind: tuple[str, str, str, str]
    time: Factor | None
    memory: Factor | None
    price: Factor | None
    provisioning_s: float | None
    runs: int
    ignored: int = 0
    overhead_s: float | None = None
    """Runs of this kind that did not succeed (left out)."""
    notes: tuple[str, ...] = field(default=())

    @property
    def throughput_factor(self) -> float:
        """Measured ÷ estimated tokens/s: 0.86 means the runs were 14 % slower than planned."""
        return 1.0 / self.time.value if self.time else 1.0

    @property
    def memory_factor(self) -> float:
        return self.memory.value if self.memory else 1.0

    def to_json(self) -> dict:
        device, method, task, stack = self.kind
        return {"device": device, "method": method, "task": task, "stack": stack, "runs": self.runs,
                "ignored_runs": self.ignored, "throughput_factor": round(self.throughput_factor, 4),
                "memory_factor": round(self.memory_factor, 4),
                "time": self.time.to_json() if self.time else None,
                "memory": self.memory.to_json() if self.memory else None,
                "price": self.price.to_json() if self.price else None,
                "provisioning_s": None if self.provisioning_s is None else round(self.provisioning_s, 1),
                "overhead_s": None if self.overhead_s is None else round(self.overhead_s, 1),
                "source": self.describe()}

    def describe(self) -> str:
        device, method, task, stack = self.kind
        parts = []
        if self.time:
            parts.append(f"tokens/s ×{self.throughput_factor:.2f}")
        if self.memory:
            parts.append(f"memory ×{self.memory_factor:.2f}")
        if self.price:
            parts.append(f"price ×{self.price.value:.2f}")
        stack_text = "" if stack in ("", "tuneplan") else f" ({stack})"
        return (f"calibrated on {self.runs} run{'s' if self.runs != 1 else ''} of {method} {task}{stack_text} on "
                f"{device}: {', '.join(parts) or 'nothing measured yet'}")


def shrunk(ratios: list[float]) -> Factor | None:
    """The median ratio without outliers, shrunk toward 1 (see the module docstring)."""
    ratios = [r for r in ratios if r is not None and math.isfinite(r) and r > 0]
    if not ratios:
        return None
    dropped = 0
    if len(ratios) >= MIN_RUNS_FOR_OUTLIERS:
        middle = statistics.median(ratios)
        kept = [r for r in ratios if middle / OUTLIER_RATIO <= r <= middle * OUTLIER_RATIO]
        dropped, ratios = len(ratios) - len(kept), kept
    raw = statistics.median(ratios)
    runs = len(ratios)
    value = 1.0 + (raw - 1.0) * runs / (runs + PRIOR_RUNS)
    spread = statistics.median(abs(r - raw) for r in ratios)
    return Factor(value, runs, raw, spread, dropped)


class Learned(dict):
    """The corrections by kind of run (a dict: kind → ``Correction``), and ``prices``: (provider, device) → the
    billed ÷ recorded price ``Factor``."""

    def __init__(self, corrections: dict | None = None, prices: dict | None = None) -> None:
        super().__init__(corrections or {})
        self.prices: dict[tuple[str, str], Factor] = prices or {}

    def __bool__(self) -> bool:
        return bool(len(self) or self.prices)


def learn(past: Iterable[PastRun]) -> Learned:
    """A correction per kind of run that has at least one succeeded run, and a price factor per provider and device
    with at least one bill."""
    past = list(past)
    by_kind: dict[tuple[str, str, str, str], list[PastRun]] = {}
    by_offer: dict[tuple[str, str], list[float]] = {}
    for run in past:
        by_kind.setdefault(run.kind, []).append(run)
        if run.provider and run.price_ratio is not None:
            by_offer.setdefault((run.provider, run.device), []).append(run.price_ratio)
    out = Learned(prices={offer: factor for offer, ratios in by_offer.items() if (factor := shrunk(ratios))})
    for kind, runs in by_kind.items():
        good = [r for r in runs if r.succeeded]
        if not good:
            continue
        provisioning = [r.provisioning_s for r in good if r.provisioning_s is not None]
        overhead = [r.overhead_s for r in good if r.overhead_s is not None and r.overhead_s >= 0]
        out[kind] = Correction(
            kind, shrunk([r.time_ratio for r in good]), shrunk([r.memory_ratio for r in good]),
            shrunk([r.price_ratio for r in good]), statistics.median(provisioning) if provisioning else None,
            len(good), len(runs) - len(good), statistics.median(overhead) if overhead else None)
    return out


def toward(assumed: float, measured: float | None, runs: int) -> float:
    """A fixed time (seconds) moved from the assumption toward the median measured one, shrunk like the factors."""
    if measured is None or runs <= 0:
        return assumed
    return assumed + (measured - assumed) * runs / (runs + PRIOR_RUNS)


def price_factor(corrections: dict | None, provider: str, device: str) -> Factor | None:
    """What the provider's bills taught about its price for ``device`` (None: no bill yet, or switched off)."""
    return getattr(corrections, "prices", {}).get((provider, device)) if corrections else None


def correction_for(corrections: dict[tuple[str, str, str, str], Correction] | None, device: str, method: str,
                   task: str, stack: str = "tuneplan") -> Correction | None:
    """The correction for one kind, or None (no runs of it, or calibration switched off)."""
    if not corrections:
        return None
    return corrections.get((device, method, task, stack or "tuneplan"))


def corrected_peak(peak_gib: float, upper_gib: float, correction: Correction | None) -> tuple[float, float]:
    """(point estimate, upper bound) with the memory factor: the point moves either way, the upper bound only up,
    so a factor below 1 never makes a fit look safer than the published calibration rows allow."""
    if correction is None or correction.memory is None:
        return peak_gib, upper_gib
    point = round(peak_gib * correction.memory_factor, 2)
    return point, round(max(upper_gib, point, upper_gib * correction.memory_factor), 2)
