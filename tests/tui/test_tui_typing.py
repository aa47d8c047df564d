"""Issue 22: typing in the terminal app as a person does — at once, fast, in one burst — never loses or
reorders keys: the Model field has the focus from the start (its text selected, so typing replaces it),
Ctrl+A selects all, Tab and the editing keys keep their place among the printable ones.

A burst is sent the way the terminal driver delivers it: every key posted to the app before any is handled
(``pilot.press`` waits for each key, which hides the reordering a fast typist hits)."""

from __future__ import annotations

from textual import events
from textual.widgets import Input, OptionList

from tests.tui.conftest import SIZE

CHARACTERS = {"tab": "\t", "end": None, "ctrl+u": "\x15", "ctrl+a": "\x01", "backspace": "\x7f", "down": None,
              "enter": "\r"}


async def burst(pilot, *keys: str) -> None:
    """``keys`` posted to the app in one go, as the driver posts a burst read from the terminal."""
    for key in keys:
        if key in CHARACTERS:
            pilot.app.post_message(events.Key(key, CHARACTERS[key]))
        else:
            for char in key:
                pilot.app.post_message(events.Key(char, char))
    await pilot.pause(0.4)


def value(app, selector: str) -> str:
    return app.screen.query_one(selector, Input).value


async def test_typing_at_start_replaces_the_model_and_re_estimates(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is app.screen.query_one("#model-input")
        await burst(pilot, "llama-3.1-8b")
        assert value(app, "#model-input") == "llama-3.1-8b"
        await burst(pilot, "down", "enter")
        assert value(app, "#model-input") == "meta-llama/Llama-3.1-8B"
        assert not app.screen.query_one("#model-matches", OptionList).display, "the other match is not listed again"
        await pilot.pause(0.3)
        assert "meta-llama/Llama-3.1-8B" in str(app.screen.query_one("#plan-summary").render())


async def test_a_burst_of_tab_and_editing_keys_lands_in_order(build_app):
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await burst(pilot, "tab", "tab", "tab", "tab", "tab", "end", "ctrl+u", "4096")
        assert value(app, "#seq_len") == "4096" and value(app, "#model-input") == "Qwen/Qwen2.5-7B-Instruct"
        await burst(pilot, "backspace", "1")
        assert value(app, "#seq_len") == "4091"
        await burst(pilot, "ctrl+a", "512")
        assert value(app, "#seq_len") == "512", "Ctrl+A selects all, so typing replaces it"
        await pilot.pause(0.3)
        assert app.screen.ctx.draft.values["seq_len"] == "512", "the estimate follows what was typed"
