"""The one exception root of the project.

Front ends print a ``TuneplanError`` as one clean line (exit code 2 for ``BadInput``) or show it in a
dialog; a user never sees a traceback for a mistake they made.
"""

from __future__ import annotations


class TuneplanError(Exception):
    """A failure with a short title and a one-line message meant for a person."""

    title = "error"
    exit_code = 1

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class BadInput(TuneplanError):
    """The user asked for something that cannot be planned or run (exit code 2)."""

    title = "bad input"
    exit_code = 2


class NotFound(BadInput):
    """A named thing (model, GPU, run) does not exist; the message carries a suggestion."""

    title = "not found"
