"""``tuneplan prices``: the price catalog (bundled snapshot + refreshed cache) with each price's source
and date, stale ones marked; ``tuneplan prices refresh`` asks the live sources.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any, Optional

import typer

from planner.errors import BadInput

prices_app = typer.Typer(help="Cloud GPU prices with their source and date; `refresh` updates them.",
                         invoke_without_command=True, add_completion=False, rich_markup_mode=None)


@prices_app.callback(invoke_without_command=True)
def prices(
    ctx: typer.Context,
    gpu: Optional[str] = typer.Option(None, help="Only this GPU (canonical name or alias, e.g. H100, RTX 4090)."),
    provider: Optional[str] = typer.Option(None, help="Only this launcher or cloud (runpod, modal, skypilot, aws, …)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List prices (cheapest per GPU-hour first within each GPU); older than 30 days = stale."""
    if ctx.invoked_subcommand:
        return
    from planner.catalog.gpus import find_gpu
    from planner.catalog.prices import SNAPSHOT_DATE, select
    from providers.prices_refresh import cache_path, current_prices, read_cache
    from providers.settings import load_settings

    stale_days = load_settings().prices.stale_after_days
    rows = select(current_prices(), find_gpu(gpu).name if gpu else None, _provider(provider))
    today = date.today()
    payload = {
        "today": today.isoformat(), "snapshot_date": SNAPSHOT_DATE.isoformat(), "stale_after_days": stale_days,
        "cache": {"path": str(cache_path()), "rows": len(read_cache())},
        "prices": [_record(row, today, stale_days) for row in rows],
    }
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    _print_prices(payload)


def provider_names() -> tuple[str, ...]:
    """Launchers and clouds, the names --provider/--providers accept."""
    from planner.catalog.prices import CLOUDS, LAUNCHER_OF_CLOUD

    return tuple(dict.fromkeys([*LAUNCHER_OF_CLOUD.values(), *CLOUDS]))


def check_provider(name: str) -> str:
    """A launcher or cloud name, lower-cased; BadInput with a suggestion for anything else."""
    from planner.suggest import did_you_mean

    cleaned = name.strip().lower()
    names = provider_names()
    if cleaned not in names:
        raise BadInput(f"unknown provider '{name}'{did_you_mean(cleaned, names)}; choose from {', '.join(names)}")
    return cleaned


def _provider(name: str | None) -> str | None:
    return check_provider(name) if name is not None else None


def _record(row, today: date, stale_days: int) -> dict[str, Any]:
    from planner.catalog.prices import to_record

    return {**to_record(row), "as_of_text": row.as_of_text, "age_days": row.age_days(today),
            "stale": row.is_stale(today, stale_days)}


@prices_app.command("refresh")
def refresh(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Update the price cache from RunPod, SkyPilot's catalogs and Modal; failures keep the snapshot."""
    from planner.catalog.prices import SNAPSHOT_DATE
    from providers.prices_refresh import cache_path, read_cache, refresh as run_refresh
    from providers.settings import load_settings

    results = run_refresh(load_settings(), date.today())
    cached = len(read_cache())
    if as_json:
        payload = {"sources": [{"name": r.name, "ok": r.ok, "prices": len(r.rows), "error": r.error or None}
                               for r in results], "cache": {"path": str(cache_path()), "rows": cached}}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    for result in results:
        sys.stdout.write(result.line + "\n")
    if any(r.ok for r in results):
        sys.stdout.write(f"cache: {cached} prices in {cache_path()} (over the snapshot of {SNAPSHOT_DATE})\n")
    else:
        sys.stdout.write(f"no live source answered: keeping the bundled snapshot of {SNAPSHOT_DATE}"
                         + (f" and {cached} cached prices" if cached else "") + "\n")


_OFFERING = {"secure-cloud": "secure", "community-cloud": "community", "serverless (per-second)": "",
             "on-demand + spot": "", "on-demand": "", "pay-as-you-go": ""}


def _print_prices(payload: dict[str, Any]) -> None:
    """One row per price; sources are numbered under the table so every price shows where it is from."""
    from rich.table import Table

    from tuneplan.cli.output import make_console, styled

    table = Table(title=f"GPU prices, $/h for the whole configuration (today {payload['today']})",
                  title_justify="left", show_edge=False)
    for name, justify in (("GPU × n", "left"), ("where", "left"), ("$/h", "right"), ("spot $/h", "right"),
                          ("as of", "left"), ("src", "right")):
        table.add_column(name, justify=justify, no_wrap=name != "where")
    sources: dict[str, int] = {}
    for p in payload["prices"]:
        as_of = ("~" if p["approx"] else "") + p["as_of"]
        as_of = styled((f"{as_of}!", "yellow")) if p["stale"] else as_of
        gpus = f"{p['gpu']} × {p['gpus']}{'*' if p['derived'] else ''}"
        region = "" if p["region"] == "any" else p["region"]
        where = " ".join(w for w in (p["cloud"], _OFFERING.get(p["offering"], p["offering"]), region) if w)
        ref = sources.setdefault(p["source"], len(sources) + 1)
        table.add_row(gpus, where, p["usd_per_hour"], p["spot_usd_per_hour"] or "", as_of, f"[{ref}]")
    table.caption = (f"* derived (scaled from a per-GPU price); ~ approximate date; ! older than "
                     f"{payload['stale_after_days']} days; cache: {payload['cache']['rows']} prices")
    console = make_console()
    console.print(table)
    for source, ref in sources.items():
        console.print(f"[{ref}] {source}", style="dim")
