"""Reading the templates' stdout protocol (CONTRACTS §6): ``TUNEPLAN_PROGRESS {...}`` and ``TUNEPLAN_DONE {...}``.

Providers read it from whatever log they can see (a local file, a pod's log endpoint); a malformed line is
skipped, not fatal, because a log is also where a crashing library prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

PROGRESS = "TUNEPLAN_PROGRESS"
DONE = "TUNEPLAN_DONE"


def parse_line(line: str) -> tuple[str, dict[str, Any]] | None:
    """("PROGRESS" | "DONE", payload) for a protocol line, else None."""
    kind, _, payload = line.strip().partition(" ")
    if kind not in (PROGRESS, DONE):
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return (kind.removeprefix("TUNEPLAN_"), data) if isinstance(data, dict) else None


def last_messages(lines: Iterable[str]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The last progress payload and the done payload (None where there is none)."""
    progress = done = None
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            continue
        if parsed[0] == "PROGRESS":
            progress = parsed[1]
        else:
            done = parsed[1]
    return progress, done
