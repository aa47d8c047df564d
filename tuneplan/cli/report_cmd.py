"""``tuneplan report [--month 2026-11] [--by project|owner|provider|gpu] [--format table|csv|json]``: what was
spent, from the ledger only. The default month is the current one (by the injected clock, UTC)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from tuneplan.cli.choices import check_choice
from tuneplan.cli.run_options import LEDGER_OPTION, clock, open_ledger


def report(
    month: Optional[str] = typer.Option(None, "--month", help="YYYY-MM (default: this month, UTC)."),
    by: Optional[str] = typer.Option(None, "--by", help="Group totals by project | owner | provider | gpu."),
    fmt: str = typer.Option("table", "--format", help="table | csv | json"),
    ledger: Optional[Path] = LEDGER_OPTION,
) -> None:
    from remote_jobs.report import build_report, month_range, to_csv, to_json

    check_choice("--format", fmt, ("table", "csv", "json"))
    at = clock()
    month = month or at.now().strftime("%Y-%m")
    since, until = month_range(month)
    result = build_report(open_ledger(ledger, at).runs(since, until), month, by)
    if fmt == "csv":
        sys.stdout.write(to_csv(result))
    elif fmt == "json":
        sys.stdout.write(json.dumps(to_json(result), indent=2) + "\n")
    else:
        _table(result)


def _table(result) -> None:
    from rich import box
    from rich.table import Table

    from remote_jobs.money import show_usd
    from tuneplan.cli.render_run import console, duration

    table = Table(title=f"Runs in {result.month} (UTC)", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  collapse_padding=True, header_style="bold")
    for name in ("run", "project", "owner", "where", "state", "time", "estimate", "cost", "vs est."):
        table.add_column(name, justify="right" if name in ("time", "estimate", "cost", "vs est.") else "left",
                         no_wrap=True)
    for line in result.lines:
        r = line.record
        table.add_row(r.run_id, r.project, r.owner, f"{r.provider}/{r.gpu}", r.state.value,
                      duration(line.hours * 3600 if line.hours is not None else None), show_usd(r.estimate_usd),
                      show_usd(line.cost_usd), _signed(line.delta_usd))
    console.print(table)
    for total in [*result.groups, result.total]:
        label = f"{result.by} {total.key}" if total is not result.total else "total"
        unfinished = f" ({total.unfinished} unfinished)" if total.unfinished else ""
        console.print(f"{label}: {total.runs} runs{unfinished}, {duration(total.hours * 3600)}, "
                      f"cost {show_usd(total.cost_usd)}, estimated {show_usd(total.estimate_usd)}")


def _signed(value) -> str:
    from remote_jobs.money import show_usd

    if value is None:
        return "-"
    return ("+" if value >= 0 else "−") + show_usd(abs(value))
