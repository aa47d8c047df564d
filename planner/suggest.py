"""'Did you mean …?' suggestions for names a user typed."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(name: str, choices: Iterable[str], limit: int = 3) -> list[str]:
    """Return up to ``limit`` choices that look like ``name`` (case-insensitive, best first)."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    lowered = name.lower()
    hits = difflib.get_close_matches(lowered, list(by_lower), n=limit, cutoff=0.5)
    contains = [key for key in by_lower if lowered and lowered in key and key not in hits]
    return [by_lower[key] for key in (hits + contains)[:limit]]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A sentence fragment like " (did you mean 'qlora'?)", or "" when nothing is close."""
    matches = close_matches(name, choices)
    if not matches:
        return ""
    quoted = ", ".join(f"'{m}'" for m in matches)
    return f" (did you mean {quoted}?)"
