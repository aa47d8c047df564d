"""Retrying a provider call that failed for a passing reason (``TransientProviderError``) with a backoff.

Anything else is not retried: a wrong credential does not get better by asking again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from providers.types import TransientProviderError
from remote_jobs.clock import Clock

T = TypeVar("T")


def with_retry(call: Callable[[], T], clock: Clock, attempts: int = 5, first_delay_s: float = 0.2,
               on_retry: Callable[[str], None] | None = None) -> T:
    """``call()``, retried up to ``attempts`` times on transient errors, doubling the wait each time."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientProviderError as exc:
            if attempt == attempts:
                raise
            if on_retry is not None:
                on_retry(f"{exc} (retry {attempt} of {attempts - 1})")
            clock.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")
