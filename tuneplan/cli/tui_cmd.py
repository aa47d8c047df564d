"""``tuneplan tui`` (and ``tuneplan`` with no arguments): open the terminal app, on a job spec if given.

A bad spec fails here with the usual one-line error, before the screen is taken over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tuneplan.cli.run_options import LEDGER_OPTION, RUNS_DIR_OPTION


def tui(
    spec: Optional[Path] = typer.Option(None, "--spec", help="Open on this job spec (launching from the TUI needs one)."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from tuneplan.tui.app import make_app

    make_app(spec_path=spec, ledger_path=ledger, runs_dir=runs_dir).run()
