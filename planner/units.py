"""Units used everywhere: memory in GiB (2^30 bytes), money in Decimal."""

from __future__ import annotations

GIB = 1 << 30
MIB = 1 << 20


def gib(num_bytes: float) -> float:
    """Bytes to GiB."""
    return num_bytes / GIB


def round_gib(num_bytes: float, digits: int = 2) -> float:
    """Bytes to GiB, rounded for display and JSON."""
    return round(num_bytes / GIB, digits)
