"""The one way the CLI builds a rich console: markup, emoji codes and highlighting off.

Much of what the CLI prints comes from outside (a failure reason from a remote machine, a log line holding
Llama's ``[/INST]``, a project name someone typed). With markup on, any of it can be read as markup: a
stray ``[/bold]`` raises ``MarkupError`` mid-run, ``[link=…]`` makes a live link. So no console here parses
markup at all; styling is explicit (``style=`` or ``styled``), and a string is always printed as it is.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.text import Text


def make_console(**options: Any) -> Console:
    """A console that prints strings as plain text; ``options`` as for ``rich.console.Console``."""
    return Console(markup=False, emoji=False, highlight=False, **options)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Text from pieces: a plain string, or (string, style). Nothing in the strings is read as markup."""
    return Text.assemble(*parts)


# Piped output (logs, CI, tests) gets a width that fits a run id and its figures on one line.
console = make_console(width=None if sys.stdout.isatty() else 120)
