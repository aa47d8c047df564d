"""How much the team's corrections improve planned hours: replay a ledger in time order and, for each succeeded
run, correct its launch estimate with what the runs finished before it taught (``planner.learning``), then compare
the median |error| of the planned hours before and after.

    python bench/bench_learning.py                        # the seeded test ledger (tests/ledger_seed.py)
    python bench/bench_learning.py --ledger PATH_OR_URL   # any ledger (yours)

Only the past is used for each run (no run teaches itself), as it would have been at its launch. The hours compared
are the provisioning + running time against the hours the launch estimated (the plain estimate where a correction
was already applied at launch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.learning import correction_for, learn, toward  # noqa: E402
from providers.types import RunState  # noqa: E402
from remote_jobs.learned import past_run  # noqa: E402


def _calibrated_hours(measured, plain: float, correction) -> float:
    """The launch's hours as the planner corrects them: with tokens/s, the training loop × the time factor and the
    rest moved toward the measured overhead (as ``planner.recommend`` does); without, the whole time × the factor."""
    if correction is None or correction.time is None:
        return plain
    factor = correction.time.value
    tokens = measured.tokens
    if not (measured.estimate_tokens_per_s and tokens):
        return plain * factor
    train_h = tokens / measured.estimate_tokens_per_s / 3600
    fixed_s = (plain - train_h) * 3600
    if correction.overhead_s is not None:
        fixed_s = toward(fixed_s, correction.overhead_s + (correction.provisioning_s or 0.0), correction.runs)
    return train_h * factor + fixed_s / 3600


def replay(records) -> dict:
    records = sorted((r for r in records if r.finished and r.ended_at and r.task != "smoke"),
                     key=lambda r: r.ended_at)
    before, after, corrected = [], [], 0
    for index, record in enumerate(records):
        measured = past_run(record)
        if not (record.state == RunState.SUCCEEDED and measured.estimate_hours and measured.actual_hours):
            continue
        history = [past_run(r) for r in records[:index] if r.ended_at < record.ended_at]
        correction = correction_for(learn(history), *measured.kind)
        plain = measured.estimate_hours
        calibrated = _calibrated_hours(measured, plain, correction)
        corrected += calibrated != plain
        before.append(abs(measured.actual_hours / plain - 1) * 100)
        after.append(abs(measured.actual_hours / calibrated - 1) * 100)
    return {"runs": len(before), "corrected_runs": corrected,
            "median_abs_error_pct_plain": round(statistics.median(before), 1) if before else None,
            "median_abs_error_pct_calibrated": round(statistics.median(after), 1) if after else None,
            "within_25_pct_plain": round(sum(e <= 25 for e in before) / len(before) * 100, 1) if before else None,
            "within_25_pct_calibrated": round(sum(e <= 25 for e in after) / len(after) * 100, 1) if after else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", help="a ledger file or postgresql:// URL (default: the seeded test ledger)")
    parser.add_argument("--runs", type=int, default=2000, help="runs in the seeded ledger")
    args = parser.parse_args()
    if args.ledger:
        from remote_jobs.ledger import Ledger

        records = Ledger(args.ledger).runs()
        source = args.ledger
    else:
        from tests.ledger_seed import seed_records

        records, source = seed_records(args.runs), f"seeded ledger ({args.runs} runs, tests/ledger_seed.py)"
    print(json.dumps({"source": source, **replay(records)}, indent=2))


if __name__ == "__main__":
    main()
