"""What every screen shares: the context, turning a failed worker into the error dialog (one handler
for the whole app, STYLE: "one handler turns worker failures into an error dialog"), and the narrow layout:
below ``NARROW_BELOW`` columns a screen carries the ``-narrow`` class and its tables fewer columns."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

NARROW_BELOW = 110  # columns: 80×24 terminals get the narrow layout, 120×36 the full one


class TuneplanScreen(Screen):
    @property
    def ctx(self):
        return self.app.ctx

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def set_columns(self, table_id: str, wide: tuple, narrow: tuple) -> None:
        """The table's columns for this width (each a label, or a (label, key) pair); sets ``-narrow``."""
        self.set_class(self.app.size.width < NARROW_BELOW, "-narrow")
        table = self.query_one(table_id, DataTable)
        table.clear(columns=True)
        for column in narrow if self.narrow else wide:
            label, key = column if isinstance(column, tuple) else (column, column)
            table.add_column(label, key=key)

    def on_resize(self) -> None:
        if (self.app.size.width < NARROW_BELOW) != self.narrow:
            self.width_changed()

    def width_changed(self) -> None:
        """The terminal crossed ``NARROW_BELOW``: screens with a width-dependent layout redo it here."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.show_error(event.worker.error)
