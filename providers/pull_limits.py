"""How much a pull may bring home, and for how long.

The remote side decides what it sends: a 1.5 KB tar with a sparse member unpacks to 4 GiB, a listing can
name a million files, a connection can trickle one byte a minute (each read within its timeout, the whole
never ending) while the machine bills. So every pull runs against a byte cap and a total deadline. The
cap is the user's setting (``pulls.max_gib``), tightened to the template's manifest (its sizes plus a
margin) when the manifest is known before the copy starts. Hitting either limit is ``PullLimitExceeded``:
not worth retrying, so the run fails with that reason and is torn down.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from providers.types import ProviderError

GIB = 1024**3
DEFAULT_MAX_GIB = 200.0
DEFAULT_TIMEOUT_S = 7200.0
MANIFEST_MARGIN = 0.10
MANIFEST_SLACK_BYTES = 16 * 1024 * 1024  # manifest.json itself and rounding


class PullLimitExceeded(ProviderError):
    """A pull went past its byte cap or its deadline."""

    title = "pull limit"


@dataclass(frozen=True)
class PullLimits:
    """The caps of one pull: total bytes, and seconds from its start. ``deadline`` (``time.monotonic``), once
    set by ``started``, holds across every retry of the pull: a retry does not get a fresh clock."""

    max_bytes: int = int(DEFAULT_MAX_GIB * GIB)
    timeout_s: float = DEFAULT_TIMEOUT_S
    deadline: float | None = None

    def started(self) -> "PullLimits":
        """These limits with the deadline fixed from now (the lifecycle calls it once per pull)."""
        return PullLimits(self.max_bytes, self.timeout_s, time.monotonic() + self.timeout_s)

    def for_manifest(self, manifest: object) -> "PullLimits":
        """Tighter when the template's manifest says what is coming: its sizes plus a margin."""
        entries = manifest.get("files") if isinstance(manifest, dict) else None
        sizes = [e.get("bytes") for e in entries or [] if isinstance(e, dict)]
        if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
            return self
        expected = int(sum(sizes) * (1 + MANIFEST_MARGIN)) + MANIFEST_SLACK_BYTES
        return PullLimits(min(self.max_bytes, expected), self.timeout_s, self.deadline)

    def start(self) -> "PullBudget":
        return PullBudget(self)


def configured_limits() -> PullLimits:
    """The limits the user's settings ask for (``pulls.max_gib``, ``pulls.timeout_minutes``)."""
    from providers.settings import load_settings

    pulls = load_settings().pulls
    return PullLimits(int(pulls.max_gib * GIB), pulls.timeout_minutes * 60)


@dataclass
class PullBudget:
    """A pull under way: bytes taken so far against the cap, and the deadline."""

    limits: PullLimits
    taken: int = 0
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.deadline = self.limits.deadline or time.monotonic() + self.limits.timeout_s

    @property
    def bytes_left(self) -> int:
        return self.limits.max_bytes - self.taken

    @property
    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def take(self, count: int, what: str = "the pull") -> None:
        """Count ``count`` more bytes; over the cap or past the deadline raises ``PullLimitExceeded``."""
        self.taken += count
        if self.taken > self.limits.max_bytes:
            raise PullLimitExceeded(f"{what} passed its cap of {_size(self.limits.max_bytes)} (settings: "
                                    "pulls.max_gib; the template's manifest plus a margin when it is known)")
        self.check_time(what)

    def check_time(self, what: str = "the pull") -> None:
        if time.monotonic() > self.deadline:
            raise PullLimitExceeded(f"{what} did not finish within {self.limits.timeout_s:.0f} s "
                                    "(settings: pulls.timeout_minutes)")

    def read_timeout(self, per_read_s: float) -> float:
        """How long one read may wait: its own timeout, but never past the deadline."""
        return max(0.1, min(per_read_s, self.seconds_left))

    def expect(self, count: int, what: str) -> None:
        """Refuse a file before copying it when its announced size alone is past what is left."""
        if count > self.bytes_left:
            raise PullLimitExceeded(f"{what} is {_size(count)}, more than the {_size(max(0, self.bytes_left))} "
                                    "this pull may still bring (settings: pulls.max_gib)")


@contextmanager
def limited_writer(target: Path, budget: PullBudget, what: str) -> Iterator[Callable[[bytes], None]]:
    """A ``write(chunk)`` into ``target`` (created 0600, parents 0700, an existing link never followed) that
    counts every chunk against ``budget``. A file cut short by a limit or an error is removed."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            def write(chunk: bytes) -> None:
                budget.take(len(chunk), what)
                out.write(chunk)

            yield write
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def write_limited(chunks: Iterable[bytes], target: Path, budget: PullBudget, what: str) -> int:
    """Write ``chunks`` to ``target`` through ``limited_writer``; the bytes written."""
    written = 0
    with limited_writer(target, budget, what) as write:
        for chunk in chunks:
            write(chunk)
            written += len(chunk)
    return written


def file_chunks(path: Path, size: int = 1024 * 1024) -> Iterable[bytes]:
    with path.open("rb") as f:
        yield from iter(lambda: f.read(size), b"")


def _size(count: int) -> str:
    return f"{count / GIB:.2f} GiB" if count >= GIB else f"{count / 1024**2:.1f} MiB"
