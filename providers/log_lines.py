"""Turning a remote log (a stream of byte or text chunks of any size) into lines, with bounded memory.

A job's log is outside input: it may be 256 MiB, or one line with no newline at all. Reading it whole
before a teardown once cost 1.2 GiB of memory. So lines are cut at ``LINE_MAX_CHARS`` and a log read for
keeping (``tail_bytes``) holds only its last bytes while the rest streams past.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

LINE_MAX_CHARS = 16 * 1024
CUT_MARK = " …[line cut]"
SAVED_LOG_BYTES = 4 * 1024 * 1024  # what a finished run keeps of its log: the end is what explains a failure


def split_lines(chunks: Iterable[bytes | str]) -> Iterator[str]:
    """The lines of a stream of chunks (bytes decoded as UTF-8 with replacement), each at most
    ``LINE_MAX_CHARS`` long; a longer line is cut and marked, the rest of it skipped."""
    pending, cutting = "", False
    for chunk in chunks:
        text = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        *lines, pending = (pending + text).split("\n")
        for line in lines:
            if not cutting:
                yield _bounded(line)
            cutting = False
        if len(pending) > LINE_MAX_CHARS:
            if not cutting:
                yield _bounded(pending)
            pending, cutting = "", True
    if pending and not cutting:
        yield _bounded(pending)


def tail_of(chunks: Iterable[bytes], max_bytes: int) -> bytes:
    """The last ``max_bytes`` of a byte stream (from the first line start inside them), holding no more
    than about that much at any time."""
    kept: deque[bytes] = deque()
    size = 0
    for chunk in chunks:
        kept.append(chunk)
        size += len(chunk)
        while kept and size - len(kept[0]) >= max_bytes:
            size -= len(kept.popleft())
    data = b"".join(kept)
    if len(data) <= max_bytes:
        return data
    data = data[-max_bytes:]
    newline = data.find(b"\n")
    return data[newline + 1:] if 0 <= newline < len(data) - 1 else data


def last_lines(lines: Iterable[str], max_chars: int) -> tuple[list[str], int]:
    """The last lines of ``lines`` that fit in ``max_chars`` together, and how many earlier ones were dropped."""
    kept: deque[str] = deque()
    size = dropped = 0
    for line in lines:
        line = _bounded(line)
        kept.append(line)
        size += len(line) + 1
        while size > max_chars and len(kept) > 1:
            size -= len(kept.popleft()) + 1
            dropped += 1
    return list(kept), dropped


def _bounded(line: str) -> str:
    return line if len(line) <= LINE_MAX_CHARS else line[:LINE_MAX_CHARS] + CUT_MARK
