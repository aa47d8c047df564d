"""``tuneplan doctor [PROVIDER] [--online]``: can each launcher work here, and does the real service behave
as tuneplan assumes? Offline it runs every provider's own check (free); ``--online PROVIDER`` runs the smoke
job there for cents and writes what the service did to a JSON file to attach to a bug report
(``remote_jobs.doctor``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput
from tuneplan.cli.run_options import LEDGER_OPTION, RUNS_DIR_OPTION, clock, open_ledger, runs_root


def doctor(
    provider: Optional[str] = typer.Argument(None, help="One provider (default: all of them)."),
    online: bool = typer.Option(False, "--online", help="Run the smoke job on PROVIDER for cents and record what "
                                "the real service did (needs its credentials)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --online: do not ask before spending."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="With --online: write the findings here."),
    bill_wait: float = typer.Option(0.0, "--bill-wait", min=0, max=7200,
                                    help="With --online: seconds to keep asking for the provider's bill afterwards."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from providers.registry import get_provider, names
    from remote_jobs.doctor import offline_checks
    from tuneplan.cli.render_run import console, styled

    known = names()
    if provider is not None and provider not in known:
        get_provider(provider)  # the registry's own one-line error, with a suggestion
    if not online:
        failed = 0
        for found in offline_checks([provider] if provider else known, get_provider):
            mark = ("ok", "green") if found.result.ok else ("not ready", "red")
            failed += not found.result.ok
            console.print(styled((f"{found.name}:", "bold"), " ", mark, f" {found.result.message}"))
            if found.result.fix and not found.result.ok:
                console.print(f"    fix: {found.result.fix}")
        if provider is not None and failed:
            raise typer.Exit(1)
        return
    if provider is None:
        raise BadInput("--online needs a provider: tuneplan doctor --online runpod (it spends a few cents there)")
    _online(get_provider(provider), yes, output, bill_wait, ledger, runs_dir)


def _online(chosen, yes: bool, output: Optional[Path], bill_wait: float, ledger: Optional[str],
            runs_dir: Optional[Path]) -> None:
    from providers.paths import data_dir
    from remote_jobs.doctor import ONLINE_CAP_USD, online_check, write_report
    from remote_jobs.money import show_usd
    from tuneplan.cli import render_run as show

    at = clock()
    book = open_ledger(ledger, at).checked()

    def confirm(request) -> bool:
        show.console.print(f"doctor: the smoke job on {chosen.name}: {request.destination}; about "
                           f"{show_usd(request.estimate.usd)}, capped at {show_usd(ONLINE_CAP_USD)}")
        return yes or typer.confirm("Spend that to check the service?", default=False)

    with show.PlainEvents() as live:
        report = online_check(chosen, book, runs_root(runs_dir), at, bill_wait, live, confirm)
    path = write_report(report, data_dir() / "doctor", at.now(), output)
    show.console.print(f"{report['outcome']}; {len(report['errors'])} error(s) seen; findings in {path}")
    if report["outcome"] != "the smoke run succeeded":
        raise typer.Exit(1)
