"""Whether a job fits a card (yes / tight / no) and, where it does not, the nearest changes that make it fit,
computed with the estimator rather than guessed: the largest micro-batch and sequence length that fit, and
the peak that QLoRA, an 8-bit optimizer, gradient checkpointing or FSDP over more cards would need. Every
"fits" here is the safe one: the estimate's upper bound (``planner.estimate.bounds``) fits the card.

It answers the search people otherwise run by trial and error on a rented machine (``plan --max-fit``).
Memory grows with the micro-batch and the sequence length, so both searches are a doubling then a bisection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.arch import Architecture
from planner.estimate.bounds import fit_of, upper_gib
from planner.estimate.memory import BREAKDOWN_KEYS, estimate_memory
from planner.estimate.setup import TrainingSetup
from planner.units import GIB

MAX_MICRO_BATCH = 1024
SEQ_STEP = 128  # sequence lengths are searched in multiples of this (what people set)
FSDP_SIZES = (2, 4, 8)


def peak_gib(arch: Architecture, setup: TrainingSetup) -> float:
    """The plan's peak (its rounded components summed, as ``tuneplan plan`` prints it)."""
    memory = estimate_memory(arch, setup)
    return round(sum(round(memory.breakdown[k] / GIB, 2) for k in BREAKDOWN_KEYS), 2)


def verdict(peak: float, card_gib: float, setup: TrainingSetup) -> str:
    """yes (its upper bound fits), tight (the estimate fits, its upper bound does not), no."""
    return fit_of(peak, upper_gib(peak, setup), card_gib)


def safe_peak_gib(arch: Architecture, setup: TrainingSetup) -> float:
    """The upper bound of the peak: what the searches below must fit, so what they suggest is safe to rent."""
    return upper_gib(peak_gib(arch, setup), setup)


def _largest(fits, low: int, high: int) -> int:
    """Largest n in [low, high] with fits(n), given fits is monotone (True up to some n); 0 when not even low."""
    if not fits(low):
        return 0
    good, n = low, low
    while n < high:  # double until it stops fitting
        n = min(n * 2, high)
        if not fits(n):
            bad = n
            break
        good = n
    else:
        return good
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if fits(mid) else (good, mid)
    return good


def largest_micro_batch(arch: Architecture, setup: TrainingSetup, card_gib: float) -> int:
    return _largest(lambda b: safe_peak_gib(arch, replace(setup, micro_batch=b)) <= card_gib, 1, MAX_MICRO_BATCH)


def largest_seq_len(arch: Architecture, setup: TrainingSetup, card_gib: float) -> int:
    """In multiples of ``SEQ_STEP``, up to the model's position limit (0: not even ``SEQ_STEP`` tokens)."""
    top = max(1, arch.max_positions // SEQ_STEP) if arch.positions_known else 1 << 20
    steps = _largest(lambda k: safe_peak_gib(arch, replace(setup, seq_len=k * SEQ_STEP)) <= card_gib, 1, top)
    return steps * SEQ_STEP


@dataclass(frozen=True)
class Change:
    """One change to the job and the peak it gives on the card."""

    what: str
    peak_gib: float
    fits: bool


def nearest_changes(arch: Architecture, setup: TrainingSetup, card_gib: float) -> dict:
    """What would make the job fit ``card_gib``: the largest micro-batch (at this sequence length) and
    sequence length (at micro-batch 1), and the peak of each standard memory saving not already on."""
    one = replace(setup, micro_batch=1)
    changes: list[Change] = []

    def consider(what: str, changed: TrainingSetup) -> None:
        try:
            validated = changed.validated()
            peak = peak_gib(arch, validated)
        except Exception:  # noqa: BLE001 - a combination the stack cannot run is no suggestion
            return
        changes.append(Change(what, peak, upper_gib(peak, validated) <= card_gib))

    if setup.method in ("lora", "full") and setup.task in ("sft", "dpo") and setup.quant == "none":
        consider("QLoRA (nf4 base weights)", replace(setup, method="qlora", quant="nf4"))
    if "8bit" not in setup.optimizer and setup.optimizer != "sgd":
        consider("8-bit AdamW", replace(setup, optimizer="adamw_8bit"))
    if not setup.grad_ckpt:
        consider("gradient checkpointing", replace(setup, grad_ckpt=True))
    if setup.world_size == 1:
        for n in FSDP_SIZES:
            consider(f"FSDP over {n} cards", replace(setup, gpus=n, sharding="fsdp"))
    return {"largest_micro_batch": largest_micro_batch(arch, setup, card_gib),
            "largest_seq_len": largest_seq_len(arch, one, card_gib),
            "changes": [{"what": c.what, "peak_gib": c.peak_gib, "fits": c.fits} for c in changes]}
