"""A form row: a label, its control, and the inline error under it (shown only while there is one).

Errors from the planner land on the field they are about, so a bad value never becomes a crash or a
dialog: the field turns red and says why, and the last good estimate stays on screen.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Static


class FormField(Vertical):
    """``label`` beside ``control``; ``set_error`` shows or clears the message under them."""

    def __init__(self, label: str, control: Widget, *, name: str, stacked: bool = False, **kwargs) -> None:
        super().__init__(id=f"field-{name}", classes="form-field -stacked" if stacked else "form-field", **kwargs)
        self.field_name = name
        self._label = label
        self.control = control

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self._label, classes="field-label", markup=False)
            yield self.control
        yield Static("", classes="field-error", markup=False)

    def set_error(self, message: str) -> None:
        self.query_one(".field-error", Static).update(message)
        self.set_class(bool(message), "-invalid")

    @property
    def error(self) -> str:
        return str(self.query_one(".field-error", Static).render()) if self.has_class("-invalid") else ""
