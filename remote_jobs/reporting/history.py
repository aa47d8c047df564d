"""Rent versus buy from history: "at this team's last 3 months of usage, an RTX 4090 would pay back in N
months", with the planner's rent-vs-buy fed the ledger's actual GPU-hours.

The team rented different GPUs, so their hours are first turned into hours of the card they would buy,
by work done: an hour on a rented GPU is worth (owned card's time for the reference job ÷ that GPU's time
for it) owned hours, both from the planner's time model. A GPU the planner cannot time counts hour for
hour (said in the basis). More work than one card does in a month means several cards, each as busy.
Everything else (purchase price, power, resale, the cheapest rental for the same work) is the planner's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from planner.errors import TuneplanError
from remote_jobs.reporting.lines import RunLine

WINDOW_MONTHS = 3
YEARS = 5
HOURS_PER_CARD_MONTH = 720.0
DEFAULT_GPUS = ("RTX4090", "H100")


@dataclass(frozen=True)
class Payback:
    """One card the team could buy, judged on its rented history."""

    gpu: str
    cards: int
    rented_gpu_hours_per_month: float
    rented_usd_per_month: Decimal
    owned_hours_per_month: float
    purchase_usd: Decimal
    purchase_source: str
    own_usd_per_month: Decimal
    rent_usd_per_month: Decimal
    rent_offer: str
    rent_price_source: str
    rent_price_as_of: str
    break_even_month: int | None
    verdict: str
    basis: str


def rented(lines: Iterable[RunLine]) -> list[RunLine]:
    """Finished runs on rented GPUs (not this machine) that used GPU time."""
    return [line for line in lines if line.record.provider != "local" and line.gpu_hours > 0]


def paybacks(lines: list[RunLine], gpus: Iterable[str], rows: list, today: date, kwh_usd: Decimal,
             window_label: str) -> tuple[list[Payback], list[str]]:
    """(one Payback per card, notes): the notes say why a card could not be judged."""
    used = rented(lines)
    if not used:
        return [], [f"rent vs buy: no rented GPU-hours in {window_label}, nothing to compare"]
    hours_by_gpu: dict[str, float] = {}
    for line in used:
        hours_by_gpu[line.record.gpu] = hours_by_gpu.get(line.record.gpu, 0.0) + line.gpu_hours
    spend = sum((line.cost_usd or Decimal(0) for line in used), Decimal(0))
    out, notes = [], []
    for gpu in gpus:
        try:
            out.append(_payback(gpu, hours_by_gpu, spend, rows, today, kwh_usd, window_label))
        except TuneplanError as exc:
            notes.append(f"rent vs buy {gpu}: {exc}")
    return out, notes


def _payback(gpu_name: str, hours_by_gpu: dict[str, float], spend: Decimal, rows: list, today: date,
             kwh_usd: Decimal, window_label: str) -> Payback:
    from planner import rent_vs_buy as rvb
    from planner.catalog.gpus import find_gpu

    card = find_gpu(gpu_name)
    job = rvb.reference_job(card, today)
    owned_time = _train_hours(job, card.name, today, kwh_usd)
    owned_hours, untimed = 0.0, []
    for used_gpu, hours in sorted(hours_by_gpu.items()):
        used_time = _train_hours(job, used_gpu, today, kwh_usd)
        if used_time is None or owned_time is None:
            untimed.append(used_gpu)
        owned_hours += hours * (owned_time / used_time if used_time and owned_time else 1.0)
    per_month = owned_hours / WINDOW_MONTHS
    cards = max(1, math.ceil(per_month / HOURS_PER_CARD_MONTH))
    owning = rvb.owning_for(card, None, Decimal(0), Decimal(30), kwh_usd)
    result = rvb.by_hours(card.name, rows, today, per_month / cards, owning, YEARS)
    rental = result.rental
    basis = (f"{sum(hours_by_gpu.values()):.1f} rented GPU-hours in {window_label} = {owned_hours:.1f} h on "
             f"{card.name} for the same work (reference job {job.model.model_id} {job.setup.method})")
    if untimed:
        basis += f"; counted hour for hour: {', '.join(untimed)}"
    return Payback(card.name, cards, round(sum(hours_by_gpu.values()) / WINDOW_MONTHS, 2),
                   (spend / WINDOW_MONTHS).quantize(Decimal("0.01")), round(per_month, 2),
                   owning.purchase_usd * cards, owning.purchase_source, result.own_usd_per_month * cards,
                   result.rent_usd_per_month * cards, f"{rental.gpus}× {rental.gpu} on {rental.cloud}",
                   rental.price_source, rental.price_as_of.isoformat(), result.series.break_even_month,
                   _verdict(card.name, cards, result.series.break_even_month), basis)


def _train_hours(job, gpu_name: str, today: date, kwh_usd: Decimal) -> float | None:
    """Hours the reference job takes on one ``gpu_name`` by the planner's time model; None if it cannot say."""
    from planner.catalog.gpus import find_gpu
    from planner.errors import NotFound
    from planner.recommend.candidates import Electricity, Estimates, local_candidates
    from planner.recommend.local import LocalGpu, LocalMachine
    from planner.recommend.result import Constraints

    try:
        name = find_gpu(gpu_name).name
    except NotFound:
        return None
    machine = LocalMachine(gpus=(LocalGpu(name),))
    found = local_candidates(Estimates(job), machine, Constraints(gpu_counts=frozenset({1})),
                             Electricity(kwh_usd, "report", False), today)
    return found[0].train_hours if found and found[0].fits and found[0].train_hours else None


def _verdict(gpu: str, cards: int, month: int | None) -> str:
    what = f"{cards} × {gpu}" if cards > 1 else f"an {gpu}" if gpu[0] in "AEFHILMNORSX" else f"a {gpu}"
    if month is None:
        return f"{what} would not pay back within {YEARS} years at this usage"
    return f"{what} would pay back in {month} months"
