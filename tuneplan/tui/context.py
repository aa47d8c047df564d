"""What the screens share and what tests inject: where the ledger and runs live, the clock, the price rows,
this machine, the settings, and the job being edited.

``make_app`` builds one of these from its arguments; everything left out falls back to what the CLI uses
(the same ledger path rules, ``TUNEPLAN_NOW`` for the clock). The local machine is detected lazily, in a
worker, because detection runs ``nvidia-smi``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tuneplan.tui.draft import Draft


@dataclass
class TuiContext:
    draft: Draft
    ledger_path: Path | None = None
    runs_dir: Path | None = None
    clock: Any = None
    loaded_settings: Any = None  # read on first use (``settings``): importing the model costs ~0.25 s
    prices: list = field(default_factory=list)
    machine: Any = None  # planner.recommend.LocalMachine once known
    last_estimate: Any = None  # tuneplan.tui.draft.DraftEstimate shown on the Plan screen
    learned: dict | None = None  # the team's corrections (remote_jobs.learned), read once

    @property
    def settings(self):
        """The user's settings, read once; the Plan screen never needs them, so the first paint does not wait."""
        if self.loaded_settings is None:
            from providers.settings import load_settings

            self.loaded_settings = load_settings()
        return self.loaded_settings

    @property
    def today(self) -> date:
        return self.clock.now().date()

    def runs_root(self) -> Path:
        from tuneplan.cli.run_options import runs_root

        return runs_root(self.runs_dir)

    def open_ledger(self):
        from remote_jobs.ledger import Ledger

        return Ledger(self.ledger_path, self.clock)

    def corrections(self) -> dict:
        """What the ledger's finished runs teach (read once; blocking: call it from a worker)."""
        if self.learned is None:
            from planner.errors import BadInput
            from remote_jobs.learned import corrections

            try:
                self.learned = corrections(self.open_ledger(), self.clock.now())
            except BadInput:
                self.learned = {}
        return self.learned

    def local_machine(self):
        """This machine (detected once; blocking: call it from a worker)."""
        if self.machine is None:
            from providers.hardware import local_machine

            self.machine = local_machine(self.settings.hardware)
        return self.machine


def build_context(spec_path: Path | None = None, ledger_path: Path | None = None, runs_dir: Path | None = None,
                  clock: Any = None, settings: Any = None, prices: list | None = None, machine: Any = None) -> TuiContext:
    """The context with defaults filled in; a bad spec path raises ``BadInput`` before any window opens."""
    from providers.prices_refresh import current_prices
    from remote_jobs.clock import default_clock
    from tuneplan.tui.draft import default_draft, draft_from_spec

    draft = draft_from_spec(spec_path) if spec_path is not None else default_draft()
    return TuiContext(draft, ledger_path, runs_dir, clock or default_clock(), settings,
                      current_prices() if prices is None else prices, machine)
