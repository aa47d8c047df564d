"""Snapshots of every main screen at 120×36 and at 80×24 (pytest-textual-snapshot): Plan, Options, Rent vs
buy, Runs, Report.

Everything they show is pinned: the default job, the bundled price table, a fixed machine, a fixed clock and
a seeded ledger. ``pytest tests/tui --snapshot-update`` rewrites them after a deliberate change; look at the
80×24 ones as a person would (words whole, tables on screen) before accepting them.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.tui.conftest import seed_ledger

SIZES = {"120x36": (120, 36), "80x24": (80, 24)}
SCREENS = {"plan": None, "options": "f3", "rent_vs_buy": "f4", "runs": "f5", "report": "f6"}


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)
    await pilot.app.workers.wait_for_complete()
    if isinstance(pilot.app.focused, Input):
        pilot.app.screen.set_focus(None)  # a blinking text cursor would make the picture flicker
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare, build_app, tui_paths, screen, size):
    if screen in ("runs", "report"):
        seed_ledger(tui_paths["ledger_path"], tui_paths["runs_dir"])

    async def go(pilot):
        if SCREENS[screen]:
            await pilot.press(SCREENS[screen])
        await _settle(pilot)
        if screen == "runs":
            await pilot.pause(0.5)
    assert snap_compare(build_app(), terminal_size=SIZES[size], run_before=go)
