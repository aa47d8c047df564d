"""``tuneplan gc [--yes]``: list what in the runs folder no ledger row needs (with sizes); ``--yes`` removes
it. The rules are in ``remote_jobs.gc``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tuneplan.cli.run_options import LEDGER_OPTION, RUNS_DIR_OPTION, clock, open_ledger, runs_root


def gc(
    yes: bool = typer.Option(False, "--yes", "-y", help="Remove what is listed (default: only list it)."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from remote_jobs import gc as collector
    from tuneplan.cli.output import console
    from tuneplan.cli.render_run import size

    items = collector.survey(open_ledger(ledger, clock()), runs_root(runs_dir))
    if not items:
        console.print("nothing to remove: every file in the runs folder is needed by a ledger row")
        return
    for item in items:
        console.print(f"{size(item.bytes):>10}  {item.path}  ({item.why})")
    total = sum(item.bytes for item in items)
    if not yes:
        console.print(f"{size(total)} in {len(items)} places; `tuneplan gc --yes` removes them")
        return
    console.print(f"removed {size(collector.remove(items))} in {len(items)} places")
