"""Rent versus buy: owning a card (purchase, power, resale, an optional host share) against renting the
same card for the same hours, month by month, with the break-even month and the hours a month at which
buying wins.

Like is compared with like: the card you would buy against that card rented (its cheapest one-GPU
offer). A second line gives the cheapest rentable card that does the same work in the same time (at least
as fast, by the time model on a reference job or on the user's own job spec, with its fixed costs per
run); where the card itself is not for rent, that card is the comparison. Hours are those of a calendar
month (at most 744); the cash-flow view pays the purchase in month 0, power every month, and credits the
resale in the last month. Pure: prices and today's date arrive as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from planner.catalog.gpus import GpuSpec, find_gpu
from planner.catalog.prices import PriceRow, rate_text
from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.models import resolve_local
from planner.plan import DataSize
from planner.recommend import costs
from planner.recommend.candidates import Electricity, Estimates, cloud_candidates, local_candidates
from planner.recommend.local import LocalGpu, LocalMachine
from planner.recommend.result import Candidate, Constraints, Job

# The reference job that sets relative GPU speed: the first one that fits the owned card. A QLoRA SFT of
# a 7B model is the everyday fine-tune; smaller cards fall back to LoRA on a 1.5B model.
REFERENCE_JOBS = (
    ("Qwen/Qwen2.5-7B-Instruct", TrainingSetup(method="qlora", quant="nf4", seq_len=2048, micro_batch=1)),
    ("Qwen/Qwen2.5-1.5B-Instruct", TrainingSetup(method="lora", seq_len=1024, micro_batch=1)),
)
REFERENCE_DATA = DataSize(examples=1000, avg_tokens=512, epochs=1.0)
HOURS_IN_A_MONTH = 730.5  # 365.25 × 24 / 12: the average month, for utilisation
MOST_HOURS_IN_A_MONTH = 744  # 31 days × 24: no month holds more


@dataclass(frozen=True)
class Owning:
    """What owning costs: the card (and a share of a host PC), power at its draw, resale at the end."""

    purchase_usd: Decimal
    purchase_source: str
    host_usd: Decimal
    resale_pct: Decimal
    power_watts: float
    kwh_usd: Decimal

    @property
    def resale_usd(self) -> Decimal:
        return costs.usd(self.purchase_usd * self.resale_pct / 100)

    def usd_per_month(self, hours: float) -> Decimal:
        return costs.usd(self.power_usd_per_hour * costs.dec_hours(hours))

    @property
    def power_usd_per_hour(self) -> Decimal:
        return Decimal(repr(round(self.power_watts, 1))) / 1000 * self.kwh_usd


def break_even_hours(owning: Owning, rent_usd_per_owned_hour: Decimal, months: int) -> float | None:
    """The hours a month of use above which buying costs less over ``months`` (purchase + host − resale,
    recovered by what each hour saves against renting); None when renting an hour costs no more than
    powering the owned card, so no utilisation makes buying pay."""
    saving = rent_usd_per_owned_hour - owning.power_usd_per_hour
    if saving <= 0:
        return None
    capital = owning.purchase_usd + owning.host_usd - owning.resale_usd
    return float(capital / (saving * months))


@dataclass(frozen=True)
class Series:
    """Cumulative cost of both choices, month 0 (purchase) to the last month (resale credited)."""

    own_usd: list[Decimal]
    rent_usd: list[Decimal]
    break_even_month: int | None


def cumulative(own: Owning, own_monthly: Decimal, rent_monthly: Decimal, months: int) -> Series:
    """The month-by-month cash flows and the first month where renting has cost at least as much."""
    own_series = [own.purchase_usd + own.host_usd]
    rent_series = [Decimal("0.00")]
    for month in range(1, months + 1):
        resale = own.resale_usd if month == months else Decimal(0)
        own_series.append(own_series[-1] + own_monthly - resale)
        rent_series.append(rent_series[-1] + rent_monthly)
    even = next((m for m in range(1, months + 1) if rent_series[m] >= own_series[m]), None)
    return Series(own_series, rent_series, even)


@dataclass(frozen=True)
class Alternative:
    """The cheapest rentable card that does the owned card's work in the same time, and what that costs."""

    rental: Candidate
    hours_per_month: float
    usd_per_month: Decimal


@dataclass(frozen=True)
class RentVsBuy:
    gpu: str
    years: int
    owning: Owning
    own_hours_per_month: float
    own_usd_per_month: Decimal
    rental: Candidate
    rent_hours_per_month: float
    rent_usd_per_month: Decimal
    basis: dict[str, Any]
    series: Series
    same_card: bool = True
    """``rental`` is the owned card itself, rented (else the card is not for rent: the alternative)."""
    alternative: Alternative | None = None
    break_even_hours_per_month: float | None = None

    @property
    def verdict(self) -> str:
        month, hours = self.series.break_even_month, self.break_even_hours_per_month
        if hours is None or hours > MOST_HOURS_IN_A_MONTH:
            return (f"renting is cheaper at any utilisation: over {self.years} years buying never pays off, "
                    "even busy every hour of every month")
        wins = f"buying wins above {hours:,.0f} h a month ({hours / HOURS_IN_A_MONTH:.0%} utilisation)"
        if month is None:
            return f"renting stays cheaper at {self.own_hours_per_month:g} h a month; {wins}"
        return f"buying pays off in month {month} ({month / 12:.1f} years) at {self.own_hours_per_month:g} h a month; {wins}"

    def to_json(self) -> dict[str, Any]:
        o = self.owning
        alt = self.alternative
        return {
            "gpu": self.gpu, "years": self.years, "months": self.years * 12,
            "own": {"purchase_usd": str(o.purchase_usd), "purchase_source": o.purchase_source,
                    "host_usd": str(o.host_usd), "resale_pct": str(o.resale_pct), "resale_usd": str(o.resale_usd),
                    "power_watts": round(o.power_watts, 1), "kwh_usd": rate_text(o.kwh_usd),
                    "hours_per_month": round(self.own_hours_per_month, 2),
                    "utilisation_pct": round(100 * self.own_hours_per_month / HOURS_IN_A_MONTH, 1),
                    "usd_per_month": str(self.own_usd_per_month)},
            "rent": {**_rental_json(self.rental, self.rent_hours_per_month, self.rent_usd_per_month),
                     "same_card": self.same_card},
            "alternative": _rental_json(alt.rental, alt.hours_per_month, alt.usd_per_month) if alt else None,
            "break_even_hours_per_month": (round(self.break_even_hours_per_month, 1)
                                           if self.break_even_hours_per_month is not None else None),
            "basis": self.basis, "break_even_month": self.series.break_even_month, "verdict": self.verdict,
            "series": {"month": list(range(len(self.series.own_usd))),
                       "own_usd": [str(v) for v in self.series.own_usd],
                       "rent_usd": [str(v) for v in self.series.rent_usd]},
        }


def _rental_json(r: Candidate, hours: float, usd: Decimal) -> dict[str, Any]:
    return {"provider": r.provider, "cloud": r.cloud, "gpu": r.gpu, "gpus": r.gpus, "spot": r.spot,
            "region": r.region, "usd_per_hour": rate_text(r.cost.usd_per_hour), "price_source": r.price_source,
            "price_as_of": r.price_as_of.isoformat(), "price_approx": r.price_approx,
            "hours_per_month": round(hours, 2), "usd_per_month": str(usd)}


def owning_for(gpu: GpuSpec, purchase_usd: Decimal | None, host_usd: Decimal, resale_pct: Decimal,
               kwh_usd: Decimal, power_watts: float | None = None) -> Owning:
    """The owning side, with the catalog's street price (or MSRP) when the user gave none."""
    source = "given"
    if purchase_usd is None:
        catalog_price = gpu.street_usd or gpu.msrp_usd
        if catalog_price is None:
            raise BadInput(f"no purchase price for {gpu.name} in the catalog: pass --price-usd")
        purchase_usd = Decimal(str(catalog_price))
        kind = "street" if gpu.street_usd else "MSRP"
        source = f"catalog {kind} price{' of ' + gpu.street_price_date if gpu.street_usd else ''} ({gpu.price_source})"
    watts = power_watts or LocalGpu(gpu.name).watts(1)
    return Owning(costs.usd(purchase_usd), source, costs.usd(host_usd), resale_pct, watts, kwh_usd)


def _rentals(job: Job, rows: list[PriceRow], today: date, spot: bool, counts: frozenset[int] | None) -> list[Candidate]:
    est = Estimates(job)
    found = cloud_candidates(est, rows, Constraints(spot=spot, gpu_counts=counts), today, 10**6)
    return [c for c in found if c.fits and c.spot == spot]


def _owned_run(job: Job, gpu: GpuSpec, today: date, kwh: Decimal) -> Candidate:
    machine = LocalMachine(gpus=(LocalGpu(gpu.name),))
    power = Electricity(kwh, "given", False)
    found = local_candidates(Estimates(job), machine, Constraints(gpu_counts=frozenset({1})), power, today)
    return found[0]


def reference_job(gpu: GpuSpec, today: date) -> Job:
    """The first reference job that fits one owned card."""
    for model_id, setup in REFERENCE_JOBS:
        job = Job(resolve_local(model_id), setup, REFERENCE_DATA)
        if _owned_run(job, gpu, today, costs.DEFAULT_KWH_USD).fits:
            return job
    raise BadInput(f"{gpu.name} has too little memory for any reference fine-tune")


def by_hours(gpu_name: str, rows: list[PriceRow], today: date, hours_per_month: float, owning: Owning,
             years: int, spot: bool = False) -> RentVsBuy:
    """The card busy ``hours_per_month`` against the same card rented for those hours; beside it, the
    cheapest rentable card that does that work in the same time."""
    if not 0 < hours_per_month <= MOST_HOURS_IN_A_MONTH:
        raise BadInput(f"a month has at most {MOST_HOURS_IN_A_MONTH} hours (31 days × 24), got {hours_per_month:g}")
    gpu = find_gpu(gpu_name)
    job = reference_job(gpu, today)
    owned = _owned_run(job, gpu, today, owning.kwh_usd)
    rentals = _rentals(job, rows, today, spot, frozenset({1}))

    def per_owned_hour(c: Candidate) -> float:
        return c.train_hours / owned.train_hours

    def monthly(c: Candidate) -> tuple[Decimal, float]:
        hours = hours_per_month * per_owned_hour(c)
        return costs.usd(c.cost.usd_per_hour * costs.dec_hours(hours)), hours

    same = [c for c in rentals if c.gpu == gpu.name]
    as_fast = [c for c in rentals if c.gpu != gpu.name and per_owned_hour(c) <= 1.0 + 1e-9]
    alternative = None
    if as_fast:
        cheapest = min(as_fast, key=lambda c: monthly(c)[0])
        alt_usd, alt_hours = monthly(cheapest)
        alternative = Alternative(cheapest, alt_hours, alt_usd)
    if same:
        best = min(same, key=lambda c: c.cost.usd_per_hour)
    elif alternative is not None:
        best = alternative.rental
    else:
        raise BadInput(f"no cloud offers {gpu.name} or a card as fast for the reference job")
    rent_monthly, rent_hours = monthly(best)
    own_monthly = owning.usd_per_month(hours_per_month)
    basis = {"mode": "hours", "reference_model": job.model.model_id, "reference_method": job.setup.method,
             "owned_tokens_per_s": round(owned.tokens_per_s, 1), "rented_tokens_per_s": round(best.tokens_per_s, 1),
             "rented_hours_per_owned_hour": round(per_owned_hour(best), 3)}
    months = years * 12
    even_hours = break_even_hours(owning, best.cost.usd_per_hour * Decimal(repr(per_owned_hour(best))), months)
    series = cumulative(owning, own_monthly, rent_monthly, months)
    return RentVsBuy(gpu.name, years, owning, hours_per_month, own_monthly, best, rent_hours, rent_monthly, basis,
                     series, bool(same), alternative if same else None, even_hours)


def by_job(gpu_name: str, job: Job, runs_per_month: float, rows: list[PriceRow], today: date, owning: Owning,
           years: int, spot: bool = False) -> RentVsBuy:
    """A team's own job ``runs_per_month`` times: the owned card's hours against the same card rented for
    each run (fixed costs per run included); beside it, the cheapest offer (any GPU count) that runs the
    job at least as fast."""
    gpu = find_gpu(gpu_name)
    owned = _owned_run(job, gpu, today, owning.kwh_usd)
    if not owned.fits:
        raise BadInput(f"the job needs {owned.peak_gib:.1f} GiB and does not fit on one {gpu.name} "
                       f"({owned.memory_gib:.1f} GiB): owning this card cannot run it")
    own_hours = owned.train_hours * runs_per_month
    if own_hours > MOST_HOURS_IN_A_MONTH:
        raise BadInput(f"{runs_per_month:g} runs of {owned.train_hours:.1f} h on one {gpu.name} take {own_hours:,.0f} h "
                       f"a month; a month has at most {MOST_HOURS_IN_A_MONTH}")
    rentals = _rentals(job, rows, today, spot, None)
    same = [c for c in rentals if c.gpu == gpu.name and c.gpus == 1]
    as_fast = [c for c in rentals if not (c.gpu == gpu.name and c.gpus == 1) and c.hours <= owned.hours + 1e-9]
    runs = Decimal(repr(runs_per_month))
    alternative = None
    if as_fast:
        cheapest = min(as_fast, key=lambda c: (c.usd, c.hours))
        alternative = Alternative(cheapest, cheapest.hours * runs_per_month, costs.usd(cheapest.usd * runs))
    if same:
        best = min(same, key=lambda c: (c.usd, c.hours))
    elif alternative is not None:
        best = alternative.rental
    else:
        raise BadInput(f"no cloud offers {gpu.name} or anything as fast for this job")
    rent_monthly = costs.usd(best.usd * runs)
    own_monthly = owning.usd_per_month(own_hours)
    basis = {"mode": "job", "model": job.model.model_id, "method": job.setup.method, "runs_per_month": runs_per_month,
             "owned_hours_per_run": round(owned.train_hours, 3), "rented_hours_per_run": round(best.hours, 3),
             "rented_usd_per_run": str(best.usd)}
    months = years * 12
    even_hours = break_even_hours(owning, best.usd / costs.dec_hours(owned.train_hours), months)
    series = cumulative(owning, own_monthly, rent_monthly, months)
    return RentVsBuy(gpu.name, years, owning, own_hours, own_monthly, best, best.hours * runs_per_month,
                     rent_monthly, basis, series, bool(same), alternative if same else None, even_hours)
