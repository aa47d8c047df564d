"""The one text input of every form: Textual's ``Input`` with the keys people expect of a text box, in the
order they were typed.

Ctrl+A selects all (Textual's default moves to the start, so a person selecting all and typing prepends to
the old text); Home still goes to the start. Focusing a field selects its text, so typing replaces it.

Order: Textual inserts a printable key in the input's own key handler, but runs an editing key (End,
Ctrl+U, Backspace, ...) as a binding once the key event has bubbled back up to the app. Typed in one burst
(a fast typist, a paste of keys, tmux), "End Ctrl+U 4096" therefore became "4096", End, Ctrl+U: an empty
field. Here the editing keys run in the same handler as the printable ones, so every key lands in order.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Input


def _editing_actions(bindings: list) -> dict[str, str]:
    """key -> action for the input's own editing bindings (Enter stays a submit that bubbles)."""
    actions: dict[str, str] = {}
    for binding in bindings:
        if not isinstance(binding, Binding) or binding.action == "submit":
            continue
        for key in binding.key.split(","):
            actions[key.strip()] = binding.action
    return actions


class TextField(Input):
    """An ``Input`` where Ctrl+A selects all and no key of a burst overtakes another."""

    BINDINGS = [Binding("ctrl+a", "select_all", "Select all", show=False)]
    EDITING = {**_editing_actions(Input.BINDINGS), **_editing_actions(BINDINGS)}

    async def _on_key(self, event: events.Key) -> None:
        action = self.EDITING.get(event.key)
        if action is None:
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()
        self._restart_blink()
        await self.run_action(action)
