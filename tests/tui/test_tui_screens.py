"""Rent vs buy, Runs, help and the command palette, with the pilot."""

from __future__ import annotations

import pytest

from decimal import Decimal

from textual.widgets import DataTable, Input, Log, Static

from planner import rent_vs_buy as rvb
from planner.catalog.gpus import find_gpu
from tests.tui.conftest import NOW, SIZE, seed_ledger
from tuneplan.tui.widgets.form_field import FormField


def _rent(prices, hours: float, card: str = "RTX4090"):
    owning = rvb.owning_for(find_gpu(card), None, Decimal(0), Decimal(30), Decimal("0.30"), None)
    return rvb.by_hours(find_gpu(card).name, prices, NOW.date(), hours, owning, 3).to_json()


async def test_rent_vs_buy_follows_its_inputs(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause(0.2)
        screen = app.screen
        expected = _rent(app.ctx.prices, 120)
        assert expected["verdict"] in str(screen.query_one("#rent-verdict", Static).render())
        screen.query_one("#rent-hours", Input).value = "600"
        await pilot.pause(0.2)
        busier = _rent(app.ctx.prices, 600)
        assert busier["verdict"] != expected["verdict"]
        assert busier["verdict"] in str(screen.query_one("#rent-verdict", Static).render())
        assert screen.result.to_json()["break_even_month"] == busier["break_even_month"]
        screen.query_one("#rent-gpu", Input).value = "RTX9999"
        await pilot.pause(0.2)
        assert "unknown GPU" in screen.query_one("#field-gpu", FormField).error
        assert busier["verdict"] in str(screen.query_one("#rent-verdict", Static).render())  # last good result stays


async def test_runs_screen_lists_the_ledger_and_tails_the_selected_run(build_app, tui_paths):
    seed_ledger(tui_paths["ledger_path"], tui_paths["runs_dir"])
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        screen = app.screen
        table = screen.query_one("#runs-table", DataTable)
        assert table.row_count == 3
        assert str(table.get_cell("qwen7b-20261120-110000-c3d4", "elapsed")) == "45:00"  # the injected clock
        assert str(table.get_cell("qwen7b-20261120-110000-c3d4", "cost so far")) == "$0.26"  # 0.75 h × $0.34
        table.move_cursor(row=table.get_row_index("tiny-sft-20261120-101500-a1b2"))
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        shown = "\n".join(screen.query_one("#run-log", Log).lines)
        assert "step 30/30 · loss 5.2" in shown and "TUNEPLAN_" not in shown, "progress as progress, not JSON"
        assert screen.query_one("#run-progress").percentage == 1.0
        await pilot.press("l")  # the raw log, one key away
        assert "TUNEPLAN_DONE" in "\n".join(screen.query_one("#run-log", Log).lines)


async def test_a_run_stopped_part_way_keeps_its_step_on_the_bar(build_app, tui_paths):
    """Issue 22: a run stopped by its limit at 790/3000 showed a full bar."""
    seed_ledger(tui_paths["ledger_path"], tui_paths["runs_dir"])
    log = tui_paths["runs_dir"] / "tiny-sft-20261120-101500-a1b2" / "run.log"
    log.write_text('TUNEPLAN_PROGRESS {"step": 790, "total_steps": 3000, "loss": 1.5}\n'
                   'UserWarning: something a library says\n'
                   'TUNEPLAN_DONE {"ok": false, "error": "hard runtime limit reached"}\n', encoding="utf-8")
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        screen = app.screen
        table = screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index("tiny-sft-20261120-101500-a1b2"))
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.query_one("#run-progress").percentage == pytest.approx(790 / 3000, abs=0.01)
        shown = "\n".join(screen.query_one("#run-log", Log).lines)
        assert "ended: hard runtime limit reached" in shown and "UserWarning" not in shown


async def test_help_screen_and_palette_entries(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert {"Go to Plan", "Go to Options", "Go to Rent vs buy", "Go to Runs", "Go to Report"} <= set(titles)
        for key, mode in (("f3", "options"), ("f4", "rent"), ("f5", "runs"), ("f6", "report"), ("f2", "plan")):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode


def test_a_bad_spec_fails_on_the_command_line_before_the_screen_opens(tmp_path, capsys):
    from tests.cli_inprocess import run_cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: Qwen/Qwen2.5-7B-Instruct\ntraining: {seq_len: -1}\n")
    code, _, err = run_cli(capsys, "tui", "--spec", str(bad))
    assert code == 2 and err.startswith("error: ") and "seq_len" in err and len(err.strip().splitlines()) == 1


async def test_report_screen_shows_the_report_models_totals(build_app, tui_paths):
    from remote_jobs.reporting import build_report
    from remote_jobs.reporting.text import usd
    from tests.ledger_seed import NOW as SEED_NOW
    from tests.ledger_seed import seed_records, write_ledger
    from tests.tui.conftest import FixedClock

    write_ledger(tui_paths["ledger_path"], seed_records())
    app = build_app(clock=FixedClock(SEED_NOW))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        screen = app.screen
        expected = build_report(app.ctx.open_ledger(), f"{SEED_NOW:%Y-%m}", clock=FixedClock(SEED_NOW))
        assert expected.total.runs > 0
        table = screen.query_one("#report-project", DataTable)
        assert table.row_count == len(expected.breakdowns["project"]) + 1  # and the total row
        total_row = [str(cell) for cell in table.get_row("total")]
        assert total_row[0] == "total" and usd(expected.total.cost_usd) in total_row
        assert usd(expected.total.cost_usd) in str(screen.query_one("#report-summary", Static).render())
        await pilot.press("left_square_bracket")
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.report.period.label != expected.period.label


def test_start_up_imports_no_sdk_or_ml_library():
    """The first paint loads textual and the planner only: no cloud SDK, no torch (checked in a fresh process)."""
    import subprocess
    import sys
    import textwrap

    from tests.tui.conftest import ROOT

    script = textwrap.dedent('''
        import asyncio, sys
        from tuneplan.tui.app import make_app
        async def main():
            app = make_app()
            async with app.run_test(size=(120, 36)) as pilot:
                await pilot.pause(0.3)
                assert "GiB" in str(app.screen.query_one("#plan-peak").render())
        asyncio.run(main())
        heavy = ("torch", "transformers", "peft", "trl", "sky", "modal", "runpod", "openpyxl", "paramiko", "psycopg")
        print(",".join(name for name in heavy if name in sys.modules))
    ''')
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
