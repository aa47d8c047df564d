"""What every screen shares: the context, and turning a failed worker into the error dialog (one handler
for the whole app, STYLE: "one handler turns worker failures into an error dialog")."""

from __future__ import annotations

from textual.screen import Screen
from textual.worker import Worker, WorkerState


class TuneplanScreen(Screen):
    @property
    def ctx(self):
        return self.app.ctx

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.show_error(event.worker.error)
