"""Reading the bundled CSV files (package data) without touching anything outside the package."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources


@cache
def read_rows(filename: str) -> tuple[dict[str, str], ...]:
    """All rows of ``planner/data/<filename>`` as dicts of stripped strings (cached: files are static)."""
    text = resources.files("planner").joinpath("data", filename).read_text(encoding="utf-8")
    return tuple({k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(io.StringIO(text)))


def opt_float(value: str) -> float | None:
    """A number from a CSV cell, or None for a blank one."""
    return float(value) if value else None


def opt_int(value: str) -> int | None:
    return int(float(value)) if value else None
