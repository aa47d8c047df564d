"""The help screen: every screen's key, the keys of the screen you came from, and where things are kept."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# tuneplan

| key | screen |
|---|---|
| F2 | **Plan**: the job's memory, hours and dollars as you type |
| F3 | **Options**: every place it can run, ranked (c cost · t time · k ranked · Enter launch) |
| F4 | **Rent vs buy**: owning a card against renting the same work |
| F5 | **Runs**: the ledger, live logs and progress (p pull · x stop/tear down · o open folder) |
| F6 | **Report**: this month's spending, estimate vs actual |
| Ctrl+P | command palette (every screen is there too) |
| F1 | this help · Ctrl+Q quit |

A run launched here keeps going if you quit: `tuneplan watch RUN` re-attaches to it, and
`tuneplan reap` finds anything left behind. Prices show their source and as-of date.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Markdown(HELP)
