"""What a finished run's own files say about it, for the ledger: its final metrics, the package versions on
the machine that trained, and the outcome of its Hub push.

The files (``metrics.json``, ``push.json``) were written on the remote machine: they are read leniently and
cut to a bounded size (numbers and short strings; no eval history), so a ledger row stays small whatever
they hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.plain_text import one_line

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_KEYS = 60
SUMMARY_KEYS = ("task", "method", "tokens", "tokens_per_s", "wall_s", "device", "peak_mem_allocated_gib",
                "peak_mem_reserved_gib", "world_size", "nodes", "resumed_from")


@dataclass(frozen=True)
class RunFacts:
    tokens: int | None = None
    metrics: dict[str, Any] | None = None
    versions: dict[str, Any] | None = None
    push: dict[str, Any] | None = None


def read_facts(artifacts: Path) -> RunFacts:
    """The facts in a pulled ``artifacts`` folder (all None where a file is missing or unreadable)."""
    metrics = _read_json(artifacts / "metrics.json")
    push = _read_json(artifacts / "push.json")
    if metrics is None:
        return RunFacts(push=_push(push))
    summary = {key: _scalar(metrics.get(key)) for key in SUMMARY_KEYS if key in metrics}
    for section in ("train", "eval"):
        if isinstance(metrics.get(section), dict):
            summary[section] = _numbers(metrics[section])
    if isinstance(metrics.get("tracking"), dict):
        summary["tracking"] = _tracking(metrics["tracking"])
    versions = _numbers(metrics["versions"]) if isinstance(metrics.get("versions"), dict) else None
    return RunFacts(_int(metrics.get("tokens")), summary, versions, _push(push))


def _tracking(data: dict) -> dict[str, str | None]:
    """Where the template says its tracking went: the known keys only, as bounded one-line text."""
    keys = ("backend", "url", "uri", "store_in_outputs", "experiment_id", "run_id", "project", "problem")
    return {key: one_line(str(data[key]), 500) if data.get(key) is not None else None for key in keys}


def _push(data: dict | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {"repo": one_line(data.get("repo") or "", 200), "ok": data.get("ok") is True,
            "url": one_line(data.get("url") or "", 300), "error": one_line(data.get("error") or "", 500)}


def _numbers(section: dict) -> dict[str, Any]:
    """The scalar entries of a metrics section (lists such as the eval history left out), at most MAX_KEYS."""
    out = {}
    for key, value in list(section.items())[:MAX_KEYS * 2]:
        scalar = _scalar(value)
        if scalar is not None and not isinstance(value, (list, dict)):
            out[one_line(key, 80)] = scalar
        if len(out) >= MAX_KEYS:
            break
    return out


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        return one_line(value, 200)
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


def _read_json(path: Path) -> dict | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
