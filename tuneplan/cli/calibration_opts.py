"""``--calibration/--no-calibration`` for ``plan`` and ``recommend``: the team's corrections read from the ledger
(``remote_jobs.learned``), and the one-block summary ``plan --json`` and ``recommend --json`` carry (CONTRACTS §12:
``calibration: {applied, runs, memory_factor, throughput_factor, source}``, the uncorrected figures beside it).
"""

from __future__ import annotations

from typing import Any, Optional

import typer

CALIBRATION_OPTION = typer.Option(True, "--calibration/--no-calibration", help="Correct the estimate with what the "
                                  "team's past runs of this kind measured (default), or show the plain estimate.")


def learned_corrections(ledger_flag: Optional[str], enabled: bool) -> dict:
    """The corrections the ledger's runs teach; empty when switched off or when there is no ledger yet (a plan never
    creates one)."""
    if not enabled:
        return {}
    from planner.errors import BadInput
    from remote_jobs.learned import corrections
    from tuneplan.cli.run_options import clock, open_existing_ledger

    at = clock()
    try:
        from remote_jobs.ledger_location import resolve_location

        location = resolve_location(ledger_flag)
        if location.path is not None and not location.path.exists():
            return {}
        return corrections(open_existing_ledger(ledger_flag, at), at.now())
    except BadInput:
        return {}


def summary(enabled: bool, applied: list[dict], uncalibrated: dict[str, Any]) -> dict:
    """The ``calibration`` block: the correction with the most runs behind it among those applied."""
    if not applied:
        why = "--no-calibration" if not enabled else "no finished runs of this kind in the ledger yet"
        return {"applied": False, "runs": 0, "memory_factor": 1.0, "throughput_factor": 1.0, "source": why}
    best = max(applied, key=lambda c: c["runs"])
    return {"applied": True, "runs": best["runs"], "memory_factor": best["memory_factor"],
            "throughput_factor": best["throughput_factor"], "source": best["source"],
            "corrections": sorted({c["source"] for c in applied}), "uncalibrated": uncalibrated}
