"""The clock the lifecycle, the ledger and the reports read (CONTRACTS §8: clocks are injected).

Nothing in ``remote_jobs`` calls ``datetime.now()`` or ``time.sleep()`` directly; it is handed a ``Clock``.
Tests pass a fake one that jumps forward; ``TUNEPLAN_NOW`` (an ISO time) starts the CLI's clock at a
fixed instant that then advances in real time, so dated output (run ids, "this month") is reproducible.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""

    def sleep(self, seconds: float) -> None:
        """Wait (or, in tests, pretend to)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class StartedClock:
    """Starts at ``start`` and advances with the real monotonic clock."""

    def __init__(self, start: datetime) -> None:
        self._start, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        from datetime import timedelta

        return self._start + timedelta(seconds=time.monotonic() - self._t0)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def default_clock() -> Clock:
    """``TUNEPLAN_NOW`` when set (reproducible dates), else the system clock."""
    fixed = os.environ.get("TUNEPLAN_NOW")
    if fixed:
        from planner.errors import BadInput

        try:
            start = datetime.fromisoformat(fixed.replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(f"TUNEPLAN_NOW: not an ISO date-time: {fixed!r}") from None
        return StartedClock(start if start.tzinfo else start.replace(tzinfo=timezone.utc))
    return SystemClock()


def iso(moment: datetime | None) -> str | None:
    """The ledger's time format: ISO 8601 in UTC, to the millisecond."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(text: object) -> datetime | None:
    """Lenient: anything unreadable is None (stored records load leniently)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
