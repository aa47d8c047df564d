"""``tuneplan rent-vs-buy``: owning a card against renting the same card for the same work, with the cheapest
card that does that work in the same time beside it, and the hours a month at which buying wins.

Two ways to say how much work: ``--hours-per-month`` of the owned card busy on a reference fine-tune,
or ``--spec job.yaml --runs-per-month N`` ("we fine-tune this twice a week: buy or rent?").
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, Optional

import typer

from planner.errors import BadInput


def rent_vs_buy(
    gpu: str = typer.Option(..., help="The card you would buy (canonical name or alias, e.g. RTX4090)."),
    price_usd: Optional[float] = typer.Option(None, help="Purchase price; default the catalog's street price or MSRP."),
    hours_per_month: float = typer.Option(120.0, help="Hours a month the card would be training."),
    kwh_usd: Optional[float] = typer.Option(None, help="Electricity price; default from settings (0.30)."),
    years: int = typer.Option(3, help="How long you would keep the card."),
    resale_pct: float = typer.Option(30.0, help="Resale value at the end, % of the purchase price."),
    host_usd: float = typer.Option(0.0, help="Share of a host PC bought for the card (0: you have one)."),
    power_watts: Optional[float] = typer.Option(None, help="Wall power while training; default 90 % TDP + 60 W."),
    spot: bool = typer.Option(False, "--spot/--no-spot", help="Rent at spot prices where they exist."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="A job spec: compare by runs of this job instead."),
    runs_per_month: Optional[float] = typer.Option(None, help="With --spec: runs of the job per month."),
    from_ledger: bool = typer.Option(False, "--from-ledger", help="Hours a month from the team's ledger: the GPU "
                                     "hours its runs used over the last --months (instead of --hours-per-month)."),
    months: int = typer.Option(3, help="With --from-ledger: how many past months to average."),
    ledger: Optional[str] = typer.Option(None, "--ledger", help="The ledger: a file or a postgresql:// URL (default: "
                                         "TUNEPLAN_LEDGER_URL, TUNEPLAN_LEDGER, settings' ledger_url, else the user "
                                         "data dir)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    from decimal import Decimal

    from planner import rent_vs_buy as rvb
    from planner.catalog.gpus import find_gpu
    from providers.prices_refresh import current_prices

    _check(hours_per_month, years, resale_pct, host_usd, price_usd, kwh_usd, spec, runs_per_month)
    card = find_gpu(gpu)
    owning = rvb.owning_for(card, _dec(price_usd), Decimal(str(host_usd)), Decimal(str(resale_pct)),
                            _kwh(kwh_usd), power_watts)
    today, rows = date.today(), current_prices()
    workload = None
    if from_ledger:
        if spec is not None:
            raise BadInput("--from-ledger and --spec are two ways to give the workload: use one")
        hours_per_month, workload = _ledger_hours(ledger, months)
    if spec is not None:
        result = rvb.by_job(card.name, _job(spec), runs_per_month, rows, today, owning, years, spot)
    else:
        result = rvb.by_hours(card.name, rows, today, hours_per_month, owning, years, spot)
    payload = result.to_json()
    if workload is not None:
        payload["basis"]["workload"] = workload
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    _print(payload)


def _check(hours: float, years: int, resale: float, host: float, price: float | None, kwh: float | None,
           spec: Path | None, runs: float | None) -> None:
    checks = [
        (hours <= 0, f"--hours-per-month must be positive, got {hours:g}"),
        (hours > 744, f"--hours-per-month: a month has at most 744 hours (31 days × 24), got {hours:g}"),
        (years <= 0 or years > 10, f"--years must be 1 to 10, got {years}"),
        (not 0 <= resale <= 100, f"--resale-pct must be 0 to 100, got {resale:g}"),
        (host < 0, f"--host-usd cannot be negative, got {host:g}"),
        (price is not None and price <= 0, f"--price-usd must be positive, got {price}"),
        (kwh is not None and kwh < 0, f"--kwh-usd cannot be negative, got {kwh}"),
        ((spec is None) != (runs is None), "--spec and --runs-per-month go together"),
        (runs is not None and runs <= 0, f"--runs-per-month must be positive, got {runs}"),
    ]
    for bad, message in checks:
        if bad:
            raise BadInput(message)


def _ledger_hours(path: str | None, months: int) -> tuple[float, dict[str, Any]]:
    """GPU hours a month the ledger's runs used over the last ``months`` (each run's running time × its GPUs
    and machines, whatever card it ran on), capped at a calendar month, and where the figure came from."""
    from datetime import timedelta

    from tuneplan.cli.run_options import clock, open_existing_ledger

    if not 1 <= months <= 36:
        raise BadInput(f"--months must be 1 to 36, got {months}")
    at = clock()
    book = open_existing_ledger(path, at, "rent-vs-buy reads the ledger, it never creates one")
    since = at.now() - timedelta(days=30.44 * months)
    runs = [r for r in book.runs(since=since) if r.gpus and r.running_s]
    if not runs:
        raise BadInput(f"the ledger has no GPU run in the last {months} month(s): give --hours-per-month")
    gpu_hours = sum(r.running_s * r.gpus for r in runs) / 3600
    per_month = min(gpu_hours / months, 744.0)
    return per_month, {"source": "ledger", "months": months, "runs": len(runs), "gpu_hours": round(gpu_hours, 2),
                       "cards": sorted({r.gpu for r in runs})}


def _dec(value: float | None):
    from decimal import Decimal

    return Decimal(str(value)) if value is not None else None


def _kwh(flag: float | None):
    if flag is not None:
        return _dec(flag)
    from providers.settings import load_settings

    return load_settings().electricity.kwh_usd


def _job(spec: Path):
    from planner.recommend import Job
    from tuneplan.cli.choices import resolve_model
    from tuneplan.cli.job_options import job_inputs

    inputs = job_inputs({"spec": spec})
    model = resolve_model(inputs.model_name)
    inputs = inputs.for_model(model)
    return Job(model, inputs.setup, inputs.data)


def _print(payload: dict[str, Any]) -> None:
    from decimal import Decimal

    from rich.table import Table

    from tuneplan.cli.output import make_console

    own, rent, basis = payload["own"], payload["rent"], payload["basis"]
    console = make_console()
    console.print(payload["verdict"], style="bold")
    console.print(f"own: {payload['gpu']} ${own['purchase_usd']} ({own['purchase_source']})"
                  + (f" + host ${own['host_usd']}" if Decimal(own["host_usd"]) else "")
                  + f", {own['hours_per_month']:g} h/month at {own['power_watts']:g} W × ${own['kwh_usd']}/kWh = "
                  f"${own['usd_per_month']}/month, resale ${own['resale_usd']} ({own['resale_pct']} %) at the end")
    same = "the same card" if rent["same_card"] else f"{payload['gpu']} is not for rent; the cheapest card as fast"
    console.print(f"rent ({same}): {_rental_line(rent)}")
    if payload["alternative"]:
        console.print(f"or the cheapest card that does the same work in the same time: "
                      f"{_rental_line(payload['alternative'])}")
    even = payload["break_even_hours_per_month"]
    console.print(f"you said {own['hours_per_month']:g} h a month ({own['utilisation_pct']:g} % of a month); "
                  + (f"buying wins above {even:,.0f} h a month" if even is not None and even <= 744
                     else "no utilisation makes buying pay"), style="dim")
    if basis.get("workload"):
        w = basis["workload"]
        console.print(f"workload from the ledger: {w['runs']} GPU runs, {w['gpu_hours']:g} GPU hours over "
                      f"{w['months']} month(s) on {', '.join(w['cards'])}", style="dim")
    if basis["mode"] == "hours":
        console.print(f"same work: reference job {basis['reference_model']} {basis['reference_method']}, "
                      f"{basis['owned_tokens_per_s']:g} tokens/s owned vs {basis['rented_tokens_per_s']:g} rented",
                      style="dim")
    table = Table(title="Cumulative cost (USD)", title_justify="left", show_edge=False)
    for name in ("month", "own", "rent"):
        table.add_column(name, justify="right")
    series = payload["series"]
    for month in _milestones(len(series["month"]) - 1, payload["break_even_month"]):
        style = "bold" if month == payload["break_even_month"] else ""
        table.add_row(str(month), series["own_usd"][month], series["rent_usd"][month], style=style)
    console.print(table)


def _rental_line(rent: dict[str, Any]) -> str:
    approx = "about " if rent["price_approx"] else ""
    return (f"{rent['gpus']}× {rent['gpu']} on {rent['cloud']} at ${rent['usd_per_hour']}/h "
            f"(price of {approx}{rent['price_as_of']}, from {rent['price_source']}), "
            f"{rent['hours_per_month']:g} h/month = ${rent['usd_per_month']}/month")


def _milestones(last: int, even: int | None) -> list[int]:
    """Months worth showing: the start, every half year, the break-even and the end."""
    months = set(range(0, last + 1, 6)) | {1, last} | ({even} if even else set())
    return sorted(m for m in months if 0 <= m <= last)
