"""Options → launch dialog → a real local run from the TUI: the run appears on the Runs screen, completes,
and its adapter is pulled and verified (the real local provider, a tiny model trained on this CPU)."""

from __future__ import annotations

from remote_jobs.money import show_rate

from pathlib import Path

import pytest
import yaml
from textual.widgets import DataTable, Static

from tests.tui.conftest import ROOT, SIZE
from tuneplan.tui.formatting import usd_text
from tuneplan.tui.screens.launch_dialog import LaunchDialog


def _short_tiny_sft(tmp_path: Path) -> Path:
    """examples/tiny-sft.yaml, six steps long, with its data paths made absolute."""
    spec = yaml.safe_load((ROOT / "examples" / "tiny-sft.yaml").read_text())
    for key in ("train", "eval"):
        spec["data"][key] = str(ROOT / "examples" / spec["data"][key])
    spec["training"].update(max_steps=6, save_steps=3, eval_steps=3, logging_steps=2)
    path = tmp_path / "tiny-sft-short.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _catalog_job(tmp_path: Path) -> Path:
    """A job on a catalog model (estimated at once, nothing generated): for the tests that stop at the dialog."""
    spec = yaml.safe_load(_short_tiny_sft(tmp_path).read_text())
    spec.update(name="qwen-small", model="Qwen/Qwen2.5-0.5B-Instruct")
    path = tmp_path / "qwen-small.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


async def _options(pilot):
    await pilot.app.workers.wait_for_complete()  # the Plan estimate (tiny:llama is read from disk in a worker)
    await pilot.pause(0.2)
    await pilot.press("f3")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)
    return pilot.app.screen


async def test_picking_an_option_opens_the_launch_dialog_with_its_price(build_app, tmp_path):
    app = build_app(_catalog_job(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        options = await _options(pilot)
        table = options.query_one("#options-table", DataTable)
        assert table.row_count == len(options.recommendation.candidates) > 1
        await pilot.press("c")  # cheapest first, then down to this machine's own option
        local = next(i for i, c in enumerate(options.ordered()) if c.provider == "local" and c.launchable)
        await pilot.press(*["down"] * local)
        chosen = options.highlighted()
        assert chosen is options.ordered()[local] and chosen.provider == "local"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        dialog = app.screen
        assert isinstance(dialog, LaunchDialog) and dialog.candidate is chosen
        shown = str(dialog.query_one("#launch-option", Static).render())
        assert usd_text(chosen.usd) in shown and show_rate(chosen.cost.usd_per_hour) in shown
        assert shown.count("(") == shown.count(")") and "0× cpu" not in shown
        details = str(dialog.query_one("#launch-details", Static).render())
        assert "cap $0.50" in details and "leaves    train:" in details
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is options and not app.ctx.open_ledger().runs()  # cancelled: nothing started


async def test_an_option_that_cannot_launch_says_why_and_offers_no_launch(build_app, tmp_path, monkeypatch):
    from dataclasses import replace

    from planner.recommend.capabilities import CAPABILITIES

    # A launcher declared as not available (the capability table is data: this is how one says so).
    monkeypatch.setitem(CAPABILITIES, "modal", replace(CAPABILITIES["modal"], built=False,
                                                       why_not_built="the Modal launcher is switched off here"))
    app = build_app(_catalog_job(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        options = await _options(pilot)
        blocked = next(i for i, c in enumerate(options.ordered()) if not c.launchable)
        options.query_one("#options-table", DataTable).move_cursor(row=blocked)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LaunchDialog)
        assert not app.screen.query("#launch"), "no Launch button where nothing can be launched"
        assert options.ordered()[blocked].why in str(app.screen.query_one("#launch-problem", Static).render())


async def test_without_a_spec_the_dialog_explains_that_launching_needs_one(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _options(pilot)
        await pilot.press("enter")
        await pilot.pause(0.2)
        problem = str(app.screen.query_one("#launch-problem", Static).render())
        assert "tuneplan tui --spec" in problem and not app.screen.query("#launch")


@pytest.mark.slow  # the end-to-end tier: it really trains (about 20 s of the TUI tests' time)
async def test_launching_a_tiny_local_job_from_the_tui_runs_it_to_a_pulled_adapter(build_app, tmp_path, tui_paths):
    from tests.tui.conftest import FixedClock

    app = build_app(_short_tiny_sft(tmp_path), clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _options(pilot)
        await pilot.press("c", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        app.screen.query_one("#validate").value = False  # the template's check is tested by the CLI; skip it here
        await pilot.click("#launch")
        for _ in range(1800):  # the run trains for real: wait (up to 3 min on a busy machine) for its end
            await pilot.pause(0.1)
            runs = app.ctx.open_ledger().runs()
            if runs and runs[0].finished and runs[0].torn_down_at is not None:
                break
        record = app.ctx.open_ledger().runs()[0]
        assert record.state.value == "succeeded", record.failure_reason
        assert app.current_mode == "runs" and app.launched == [record.run_id]
        artifacts = tui_paths["runs_dir"] / record.run_id / "artifacts"
        assert (artifacts / "adapter_config.json").is_file() and (artifacts / "adapter_model.safetensors").is_file()
        assert {Path(a["path"]).name for a in record.artifacts} >= {"adapter_config.json", "adapter_model.safetensors"}
        table = app.screen.query_one("#runs-table", DataTable)
        for _ in range(100):  # the Runs screen re-reads the ledger every second
            if table.row_count and str(table.get_cell(record.run_id, "state")) == "succeeded":
                break
            await pilot.pause(0.1)
        assert str(table.get_cell(record.run_id, "state")) == "succeeded"


async def test_a_cloud_option_without_credentials_says_how_to_fix_them(build_app, tmp_path, monkeypatch):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    app = build_app(_catalog_job(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        options = await _options(pilot)
        # the dearest RunPod option that fits: not the one the provider would pick by itself
        runpod = max(i for i, c in enumerate(options.ordered()) if c.provider == "runpod" and c.launchable and c.fits)
        options.query_one("#options-table", DataTable).move_cursor(row=runpod)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert isinstance(app.screen, LaunchDialog), getattr(app.screen, "_message", "")
        assert not app.screen.query("#launch")
        problem = str(app.screen.query_one("#launch-problem", Static).render())
        assert problem.startswith("runpod is not ready:") and "RUNPOD_API_KEY" in problem
        picked, estimate = options.ordered()[runpod], app.screen.request.estimate
        assert (estimate.gpu, estimate.gpus, estimate.offering) == (picked.gpu, picked.gpus, picked.offering)
        assert estimate.usd_per_hour == picked.cost.usd_per_hour  # the offer picked, not another of the card
        assert not app.ctx.open_ledger().runs()


def test_the_launch_dialog_shows_the_engine_and_the_command_every_node_runs():
    from types import SimpleNamespace

    from planner.spec import spec_from_dict
    from tuneplan.tui.screens.launch_dialog import engine_lines

    spec = spec_from_dict({"model": "meta-llama/Llama-3.1-8B", "resources": {"gpus": 8, "nodes": 2, "sharding": "fsdp"}})
    request = SimpleNamespace(job=SimpleNamespace(spec=spec), plan=SimpleNamespace(gpus=8),
                              estimate=SimpleNamespace(sharding="fsdp"))
    engine, command = engine_lines(request)
    assert engine == "engine    fsdp over 16 processes (2 × 8)"
    assert command.startswith("command   python -m torch.distributed.run --nproc_per_node 8 --nnodes 2")
    one = SimpleNamespace(job=SimpleNamespace(spec=spec_from_dict({"model": "x"})), plan=SimpleNamespace(gpus=1),
                          estimate=SimpleNamespace(sharding="none"))
    assert engine_lines(one) == []
