"""The Plan screen with the pilot: the first paint has the planner's numbers; editing a field re-estimates
to exactly what ``make_plan`` says; bad input is shown on its field and nothing crashes."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import DataTable, Input, Static

from planner.catalog.models import find_catalog_model
from planner.plan import DataSize, make_plan
from planner.estimate.setup import TrainingSetup
from tests.tui.conftest import SIZE
from tuneplan.cli.choices import resolve_model
from tuneplan.tui.widgets.form_field import FormField


def _planner(model: str, **setup) -> dict:
    base = TrainingSetup(method="qlora", quant="nf4", seq_len=2048, micro_batch=1)
    return make_plan(resolve_model(model), replace(base, **setup).validated(), DataSize(assumed=True)).to_json()


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def _retype(pilot, selector: str, text: str) -> None:
    box = pilot.app.screen.query_one(selector, Input)
    box.value = text
    await pilot.pause(0.3)  # the debounce, then the estimate


async def test_first_paint_shows_the_default_jobs_estimate(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        expected = _planner("Qwen/Qwen2.5-7B-Instruct")
        assert find_catalog_model("Qwen/Qwen2.5-7B-Instruct") is not None
        assert f"{expected['peak_vram_gib']:.2f} GiB" in _text(app, "#plan-peak")
        assert "Cheapest fit:" in _text(app, "#plan-tokens") and "$" in _text(app, "#plan-tokens")
        assert app.screen.query_one("#fits", DataTable).row_count == len(expected["fits"])


async def test_changing_the_sequence_length_re_estimates_to_the_planners_numbers(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#fits", DataTable)
        before = str(table.get_cell("RTX4090", "headroom"))
        await _retype(pilot, "#seq_len", "8192")
        expected = _planner("Qwen/Qwen2.5-7B-Instruct", seq_len=8192)
        assert f"{expected['peak_vram_gib']:.2f} GiB" in _text(app, "#plan-peak")
        after = str(table.get_cell("RTX4090", "headroom"))
        assert after == f"{expected['fits']['RTX4090']['headroom_gib']:+.1f}" and after != before


async def test_choosing_a_model_from_the_search_list_estimates_it(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.click("#model-input")
        app.screen.query_one("#model-input", Input).value = ""
        await pilot.press(*"llama-3.1-8b")  # typed as a person would
        await pilot.pause(0.3)
        matches = app.screen.query_one("#model-matches")
        shown = [str(matches.get_option_at_index(i).prompt) for i in range(matches.option_count)]
        assert matches.display and shown[:2] == ["meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"]
        await pilot.press("down", "down", "enter")  # into the list, to the second match, pick it
        await pilot.pause(0.3)
        assert app.screen.query_one("#model-input", Input).value == "meta-llama/Llama-3.1-8B-Instruct"
        assert not matches.display
        expected = _planner("meta-llama/Llama-3.1-8B-Instruct")
        assert f"{expected['peak_vram_gib']:.2f} GiB" in _text(app, "#plan-peak")


async def test_bad_input_is_shown_on_its_field_and_the_last_estimate_stays(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        peak = _text(app, "#plan-peak")
        await _retype(pilot, "#seq_len", "lots")
        field = app.screen.query_one("#field-seq_len", FormField)
        assert field.has_class("-invalid") and "not a whole number" in field.error
        assert _text(app, "#plan-peak") == peak and app.screen.query_one("#plan-result").has_class("-stale")
        await _retype(pilot, "#model-input", "Qwen/Qwen2.5-7B-Instrct")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        model_field = app.screen.query_one("#field-model", FormField)
        assert "did you mean 'Qwen/Qwen2.5-7B-Instruct'" in model_field.error
        await _retype(pilot, "#seq_len", "1024")
        assert not field.has_class("-invalid")
        assert app.is_running and len(app.screen_stack) == 1  # no error dialog, no crash


async def test_nodes_gpus_and_sharding_re_estimate_the_distributed_job(build_app):
    """Issue 14: the form takes GPUs per node, nodes and the sharding engine; the estimate is the planner's for
    that shape, and the summary says it."""
    from textual.widgets import Select

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.screen.query_one("#sharding", Select).value = "fsdp"
        await _retype(pilot, "#gpus", "8")
        await _retype(pilot, "#nodes", "2")
        expected = _planner("Qwen/Qwen2.5-7B-Instruct", gpus=8, nodes=2, sharding="fsdp")
        assert "2 nodes × 8 GPUs, fsdp" in _text(app, "#plan-summary")
        assert f"{expected['peak_vram_gib']:.2f} GiB" in _text(app, "#plan-peak")
