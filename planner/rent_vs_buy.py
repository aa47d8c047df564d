"""Rent versus buy: owning a card (purchase, power, resale, an optional host share) against renting the
cheapest cloud offer that does the same work, month by month, with the break-even month.

GPUs differ in speed, so the comparison is by work done, not by hours: an hour on the owned card is
worth (its throughput ÷ the rented GPU's throughput) rented hours, measured by the time model on a
reference job (or on the user's own job spec, with its fixed costs per run). The cash-flow view: the
purchase is paid in month 0, power every month, and the resale comes back in the last month.
Pure: prices and today's date arrive as arguments.
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
        return costs.usd(Decimal(repr(round(self.power_watts, 1))) / 1000 * costs.dec_hours(hours) * self.kwh_usd)


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

    @property
    def verdict(self) -> str:
        month = self.series.break_even_month
        if month is None:
            return f"renting stays cheaper: buying never pays off within {self.years} years"
        return f"buying pays off in month {month} ({month / 12:.1f} years)"

    def to_json(self) -> dict[str, Any]:
        o, r = self.owning, self.rental
        return {
            "gpu": self.gpu, "years": self.years, "months": self.years * 12,
            "own": {"purchase_usd": str(o.purchase_usd), "purchase_source": o.purchase_source,
                    "host_usd": str(o.host_usd), "resale_pct": str(o.resale_pct), "resale_usd": str(o.resale_usd),
                    "power_watts": round(o.power_watts, 1), "kwh_usd": rate_text(o.kwh_usd),
                    "hours_per_month": round(self.own_hours_per_month, 2), "usd_per_month": str(self.own_usd_per_month)},
            "rent": {"provider": r.provider, "cloud": r.cloud, "gpu": r.gpu, "gpus": r.gpus, "spot": r.spot,
                     "region": r.region, "usd_per_hour": rate_text(r.cost.usd_per_hour), "price_source": r.price_source,
                     "price_as_of": r.price_as_of.isoformat(), "price_approx": r.price_approx,
                     "hours_per_month": round(self.rent_hours_per_month, 2), "usd_per_month": str(self.rent_usd_per_month)},
            "basis": self.basis, "break_even_month": self.series.break_even_month, "verdict": self.verdict,
            "series": {"month": list(range(len(self.series.own_usd))),
                       "own_usd": [str(v) for v in self.series.own_usd],
                       "rent_usd": [str(v) for v in self.series.rent_usd]},
        }


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
    """The card busy ``hours_per_month``, against renting the cheapest GPU that does that much work."""
    gpu = find_gpu(gpu_name)
    job = reference_job(gpu, today)
    owned = _owned_run(job, gpu, today, owning.kwh_usd)
    rentals = _rentals(job, rows, today, spot, frozenset({1}))
    if not rentals:
        raise BadInput("no cloud offer fits the reference job")

    def monthly(c: Candidate) -> tuple[Decimal, float]:
        hours = hours_per_month * c.train_hours / owned.train_hours
        return costs.usd(c.cost.usd_per_hour * costs.dec_hours(hours)), hours

    best = min(rentals, key=lambda c: monthly(c)[0])
    rent_monthly, rent_hours = monthly(best)
    own_monthly = owning.usd_per_month(hours_per_month)
    basis = {"mode": "hours", "reference_model": job.model.model_id, "reference_method": job.setup.method,
             "owned_tokens_per_s": round(owned.tokens_per_s, 1), "rented_tokens_per_s": round(best.tokens_per_s, 1),
             "rented_hours_per_owned_hour": round(best.train_hours / owned.train_hours, 3)}
    series = cumulative(owning, own_monthly, rent_monthly, years * 12)
    return RentVsBuy(gpu.name, years, owning, hours_per_month, own_monthly, best, rent_hours, rent_monthly, basis, series)


def by_job(gpu_name: str, job: Job, runs_per_month: float, rows: list[PriceRow], today: date, owning: Owning,
           years: int, spot: bool = False) -> RentVsBuy:
    """A team's own job ``runs_per_month`` times: the owned card's hours against the cheapest rented run
    (any GPU count, fixed costs per run included)."""
    gpu = find_gpu(gpu_name)
    owned = _owned_run(job, gpu, today, owning.kwh_usd)
    if not owned.fits:
        raise BadInput(f"the job needs {owned.peak_gib:.1f} GiB and does not fit on one {gpu.name} "
                       f"({owned.memory_gib:.1f} GiB): owning this card cannot run it")
    rentals = _rentals(job, rows, today, spot, None)
    if not rentals:
        raise BadInput("no cloud offer fits this job")
    best = min(rentals, key=lambda c: (c.usd, c.hours))
    runs = Decimal(repr(runs_per_month))
    rent_monthly = costs.usd(best.usd * runs)
    own_hours = owned.train_hours * runs_per_month
    own_monthly = owning.usd_per_month(own_hours)
    basis = {"mode": "job", "model": job.model.model_id, "method": job.setup.method, "runs_per_month": runs_per_month,
             "owned_hours_per_run": round(owned.train_hours, 3), "rented_hours_per_run": round(best.hours, 3),
             "rented_usd_per_run": str(best.usd)}
    series = cumulative(owning, own_monthly, rent_monthly, years * 12)
    return RentVsBuy(gpu.name, years, owning, own_hours, own_monthly, best, best.hours * runs_per_month,
                     rent_monthly, basis, series)
