"""Rich rendering of a recommendation (from its JSON payload, so the table and --json always agree)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from tuneplan.cli.output import make_console, styled

_TAG_LABELS = {"cheapest": "cheapest", "fastest": "fastest", "cheapest_within_deadline": "best in deadline"}


def _hours(hours: float) -> str:
    if hours < 1:
        return f"{max(hours * 60, 1):.0f} min"
    return f"{hours:.1f} h" if hours < 100 else f"{hours:,.0f} h"


def _as_of(candidate: dict[str, Any], ref: int) -> Text:
    text = ("~" if candidate["price_approx"] else "") + candidate["price_as_of"]
    return styled((f"{text}!", "yellow") if candidate["price_stale"] else text, f" [{ref}]")


def _fit(candidate: dict[str, Any]) -> Text:
    return Text(f"{candidate['headroom_gib']:+.1f}", style="" if candidate["fits"] else "red")


def candidates_table(payload: dict[str, Any], top: int, sources: dict[str, int]) -> Table:
    """The top rows; ``sources`` collects each price source's reference number as rows use them."""
    job = payload["job"]
    title = (f"Where to run {job['model']} ({job['task']} {job['method']}): deadline {job['deadline_hours']:g} h"
             + (" (assumed)" if job["deadline_assumed"] else "")
             + (f", budget ${job['max_usd']}" if job["max_usd"] else ""))
    table = Table(title=title, title_justify="left", show_edge=False, expand=False)
    for name, justify in (("#", "right"), ("where", "left"), ("GiB free", "right"), ("time", "right"),
                          ("total $", "right"), ("price as of", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "where")
    for rank, c in enumerate(payload["candidates"][:top], start=1):
        ref = sources.setdefault(c["price_source"], len(sources) + 1)
        table.add_row(str(rank), c["device"] + (" (spot)" if c["spot"] else ""), _fit(c), _hours(c["hours"]),
                      f"${c['usd']}", _as_of(c, ref), style="" if c["fits"] else "dim")
    hidden = len(payload["candidates"]) - min(top, len(payload["candidates"]))
    if hidden:
        table.caption = f"{hidden} more candidates in --json (or --top {len(payload['candidates'])})"
    table.caption = (table.caption + "; " if hidden else "") + "~ approximate date, ! stale price"
    return table


def local_line(local: dict[str, Any]) -> Text:
    """The answer to "do I need to rent?", above the list: this machine's best option, or why it has none."""
    c = local["option"]
    if c is None:
        return styled(("On this machine: ", "bold"), "cannot run it — ", local["why_not"])
    fit = "fits" if c["headroom_gib"] >= 1 else "fits, tight"
    late = "" if c["meets_deadline"] else ", past the deadline"
    return styled(("On this machine: ", "bold"), f"{c['device']} — {_hours(c['hours'])}, ${c['usd']} of electricity "
                  f"({fit}, {c['headroom_gib']:+.1f} GiB free{late})")


def print_recommendation(payload: dict[str, Any], top: int) -> None:
    console = make_console()
    shown = payload["candidates"][:top]
    sources: dict[str, int] = {}
    console.print(local_line(payload["local"]))
    console.print(candidates_table(payload, top, sources))
    console.print("why", style="bold")
    for rank, c in enumerate(shown, start=1):
        tags = ", ".join(_TAG_LABELS.get(t, t) for t in c["tags"])
        console.print(styled(f" {rank:>2}. ", (f"[{tags}] " if tags else "", "bold"), c["reason"]))
    for c in payload["candidates"][top:]:
        if c["tags"]:
            console.print(styled((", ".join(c["tags"]), "bold"), f": {c['device']} — {_hours(c['hours'])}, "
                                 f"${c['usd']}: {c['reason']}"))
    for source, ref in sources.items():
        console.print(f"[{ref}] {source}", style="dim")
    whys = sorted({c["why"] for c in shown if not c["launchable"] and c["why"]})
    for why in whys:
        console.print(f"not launchable yet: {why}", style="dim")
    for note in payload["job"]["notes"]:
        console.print(f"note: {note}", style="dim")
