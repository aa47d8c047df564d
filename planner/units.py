"""Units used everywhere: memory in GiB (2^30 bytes), money in Decimal."""

from __future__ import annotations

GIB = 1 << 30
MIB = 1 << 20


def gib(num_bytes: float) -> float:
    """Bytes to GiB."""
    return num_bytes / GIB

