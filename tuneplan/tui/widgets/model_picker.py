"""The model field: free text (a catalog id, a Hub id, a local folder) with the catalog searched as you type.

Matches are listed under the input (id or family name, case-insensitive, at most ``MAX_MATCHES``); picking
one fills the input. Anything else typed is kept as it is: the Plan screen resolves it off the UI thread.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, OptionList
from tuneplan.tui.widgets.text_field import TextField

MAX_MATCHES = 6


def catalog_matches(text: str, ids: list[str], limit: int = MAX_MATCHES) -> list[str]:
    """Catalog ids containing every word of ``text`` (prefix matches of the name first)."""
    words = text.lower().split()
    if not words:
        return []
    found = [i for i in ids if all(w in i.lower() for w in words)]
    found.sort(key=lambda i: (not i.lower().split("/")[-1].startswith(words[0]), len(i), i))
    return found[:limit]


class ModelPicker(Vertical):
    """An ``Input`` (id ``model-input``) and the list of catalog matches (``model-matches``).

    Up/Down move the highlight in the list while the cursor stays in the input, and Enter picks the highlighted
    match: no focus change, so keys typed quickly land where they were meant (a click picks one too).
    """

    BINDINGS = [Binding("down", "move(1)", "Next match", show=False), Binding("up", "move(-1)", "Previous match",
                                                                               show=False)]

    def __init__(self, value: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._value = value
        from planner.catalog.models import catalog_ids

        self._ids = catalog_ids()
        self._chosen: str | None = None  # the match just picked: its neighbours are not listed again
    def compose(self) -> ComposeResult:
        yield TextField(self._value, placeholder="search the catalog, or a Hub id / local folder", id="model-input",
                    compact=True)
        yield OptionList(id="model-matches", markup=False)

    def on_mount(self) -> None:
        self.query_one("#model-matches", OptionList).display = False

    @on(Input.Changed, "#model-input")
    def _search(self, event: Input.Changed) -> None:
        if self._chosen is not None and event.value == self._chosen:
            self.query_one("#model-matches", OptionList).display = False
            return
        self._chosen = None
        matches = [m for m in catalog_matches(event.value, self._ids) if m != event.value.strip()]
        options = self.query_one("#model-matches", OptionList)
        options.clear_options()
        options.add_options(matches)
        options.display = bool(matches) and self.query_one("#model-input", Input).has_focus

    def action_move(self, step: int) -> None:
        options = self.query_one("#model-matches", OptionList)
        if not (options.display and options.option_count):
            return
        current = options.highlighted
        options.highlighted = 0 if current is None else max(0, min(options.option_count - 1, current + step))

    @on(Input.Submitted, "#model-input")
    def _pick_highlighted(self, event: Input.Submitted) -> None:
        options = self.query_one("#model-matches", OptionList)
        if options.display and options.highlighted is not None:
            event.stop()
            self._choose(str(options.get_option_at_index(options.highlighted).prompt))

    def _choose(self, model: str) -> None:
        box = self.query_one("#model-input", Input)
        self._chosen = model
        box.value = model
        self.query_one("#model-matches", OptionList).display = False
        box.focus()

    @on(OptionList.OptionSelected, "#model-matches")
    def _pick(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(str(event.option.prompt))

    def on_descendant_blur(self) -> None:
        if not self.query_one("#model-matches", OptionList).has_focus:
            self.call_after_refresh(self._hide_unless_focused)

    def _hide_unless_focused(self) -> None:
        if self.app.focused not in (self.query_one("#model-input"), self.query_one("#model-matches")):
            self.query_one("#model-matches", OptionList).display = False
