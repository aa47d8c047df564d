"""Snapshots of the main screens at 120×36 (pytest-textual-snapshot): Plan, Options, Runs, Rent vs buy.

Everything they show is pinned: the default job, the bundled price table, a fixed machine, a fixed clock and
a seeded ledger. ``pytest tests/tui --snapshot-update`` rewrites them after a deliberate change.
"""

from __future__ import annotations

from tests.tui.conftest import SIZE, seed_ledger


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)
    await pilot.app.workers.wait_for_complete()
    if pilot.app.focused is not None and pilot.app.focused.__class__.__name__ == "Input":
        pilot.app.screen.set_focus(None)  # a blinking text cursor would make the picture flicker
    await pilot.pause(0.2)


class TestMainScreens:
    def test_plan(self, snap_compare, build_app):
        assert snap_compare(build_app(), terminal_size=SIZE, run_before=_settle)

    def test_options(self, snap_compare, build_app):
        async def to_options(pilot):
            await pilot.press("f3")
            await _settle(pilot)
        assert snap_compare(build_app(), terminal_size=SIZE, run_before=to_options)

    def test_runs(self, snap_compare, build_app, tui_paths):
        seed_ledger(tui_paths["ledger_path"], tui_paths["runs_dir"])

        async def to_runs(pilot):
            await pilot.press("f5")
            await _settle(pilot)
            await pilot.pause(0.5)
        assert snap_compare(build_app(), terminal_size=SIZE, run_before=to_runs)

    def test_rent_vs_buy(self, snap_compare, build_app):
        async def to_rent(pilot):
            await pilot.press("f4")
            await _settle(pilot)
        assert snap_compare(build_app(), terminal_size=SIZE, run_before=to_rent)
