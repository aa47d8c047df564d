"""The estimate's upper bound: how far above the point estimate a real peak has come, from the estimator's
own error on the published rows. A fit is safe to rent on only when this bound fits (CONTRACTS §12).

The factors are the 90th percentile of measured ÷ estimated peak per method over the public calibration
rows (tests/fixtures/measured-public.csv, 65 rows, several stacks), and never below 1: nine runs in ten peaked
at or below estimate × factor. ``bench/score_accuracy.py --bounds`` prints them and tests/test_accuracy.py recomputes
them, so a change to the estimator that moves them fails until they are updated here.
"""

from __future__ import annotations

from planner.estimate.setup import TrainingSetup

UPPER_PERCENTILE = 0.90
# LoRA's 90th percentile is 0.985 (the estimate is above nine measured peaks in ten): a bound is never below the
# estimate itself, so its factor is 1.
UPPER_FACTORS = {"full": 1.122, "lora": 1.0, "qlora": 1.047}
ALL_ROWS_FACTOR = 1.103  # every row together: for methods with too few rows of their own (spectrum)


def upper_factor(setup: TrainingSetup) -> float:
    return UPPER_FACTORS.get(setup.method, ALL_ROWS_FACTOR)


def upper_gib(peak_gib: float, setup: TrainingSetup) -> float:
    return round(peak_gib * upper_factor(setup), 2)


def fit_of(peak_gib: float, upper: float, card_gib: float) -> str:
    """yes: the upper bound fits; tight: the estimate fits, its upper bound does not; no."""
    if peak_gib > card_gib:
        return "no"
    return "yes" if upper <= card_gib else "tight"
