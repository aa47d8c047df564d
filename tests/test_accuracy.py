"""The estimators scored on published measurements; fails when accuracy regresses.

The bundled rows are tests/fixtures/*.csv; point TUNEPLAN_MEMORY_CSV / TUNEPLAN_SPEED_CSV at another
file in the same format to score it against the same targets (CONTRACTS §3).
"""

from __future__ import annotations

import os
import statistics

import pytest
from pathlib import Path

from planner.accuracy import MEMORY_TARGETS, SPEED_TARGETS, memory_results, speed_results, summarize, trace_results

FIXTURES = Path(__file__).parent / "fixtures"
MEMORY_CSV = os.environ.get("TUNEPLAN_MEMORY_CSV", str(FIXTURES / "measured-public.csv"))
SPEED_CSV = os.environ.get("TUNEPLAN_SPEED_CSV", str(FIXTURES / "measured-speed-public.csv"))
# Speed per stack on the public speed rows (bench/score_accuracy.py --by-stack), measured 2026-12-04:
# hf-legacy 9 rows 7.7 % median, 0 % predicted > 1.25× too fast; torchtune 22 rows 17.9 %, 5 %.
SPEED_STACK_BOUNDS = {"hf-legacy": (0.10, 0.05), "torchtune": (0.20, 0.10)}
# Issue 16's targets over every public row: memory median ≤ 10 %, ≥ 80 % within ±25 %, ≤ 8 % under by more than
# 10 %; speed median ≤ 15 %, ≤ 10 % of rows more than 1.25× too fast. Measured 2026-12-04: memory 8.8 %, 82 %,
# 7.7 %; speed 13.8 %, 3 %.
ISSUE_16_MEMORY = (0.10, 0.80, 0.08)
ISSUE_16_SPEED = (0.15, 0.10)


def test_speed_per_stack_and_the_issue_16_targets_hold():
    from planner.accuracy import by_stack

    memory = summarize(memory_results(MEMORY_CSV))
    assert memory.median_abs <= ISSUE_16_MEMORY[0] and memory.share_within(0.25) >= ISSUE_16_MEMORY[1]
    assert memory.share_below(0.10) <= ISSUE_16_MEMORY[2]
    speed_rows = speed_results(SPEED_CSV)
    speed = summarize(speed_rows)
    assert speed.median_abs <= ISSUE_16_SPEED[0] and speed.share_above(0.25) <= ISSUE_16_SPEED[1]
    groups = by_stack(speed_rows)
    assert set(groups) == set(SPEED_STACK_BOUNDS)
    for stack, (median_abs, too_fast) in SPEED_STACK_BOUNDS.items():
        score = summarize(groups[stack])
        assert score.median_abs <= median_abs and score.share_above(0.25) <= too_fast, stack


TRACE_CSV = Path(__file__).parents[1] / "bench" / "results" / "trace_grid.csv"


def test_memory_accuracy_meets_targets():
    results = memory_results(MEMORY_CSV)
    score = summarize(results)
    assert len(results) >= 10
    assert score.median_abs <= MEMORY_TARGETS["median_abs"], f"median |error| {score.median_abs:.1%}"
    assert score.share_within(0.25) >= MEMORY_TARGETS["within_25"], f"within ±25 %: {score.share_within(0.25):.0%}"
    assert score.share_below(0.10) <= MEMORY_TARGETS["under_10"], f"under by >10 %: {score.share_below(0.10):.0%}"


def test_speed_accuracy_meets_targets():
    results = speed_results(SPEED_CSV)
    score = summarize(results)
    assert len(results) >= 10
    assert score.median_abs <= SPEED_TARGETS["median_abs"], f"median |error| {score.median_abs:.1%}"
    assert score.share_within(0.25) >= SPEED_TARGETS["within_25"], f"within ±25 %: {score.share_within(0.25):.0%}"
    assert score.share_above(0.25) <= SPEED_TARGETS["optimistic_25"], f"too fast: {score.share_above(0.25):.0%}"


def test_tensor_model_matches_traced_steps():
    """The analytic tensor model against the committed meta-device traces of real HF training steps
    (bench/results/trace_grid.csv): the issue's target is ≤ 5 % on tensor bytes."""
    results = [result for _, result in trace_results(str(TRACE_CSV))]
    errors = [abs(r.error) for r in results]
    assert len(results) >= 100
    assert statistics.median(errors) <= 0.05
    assert sum(e <= 0.05 for e in errors) / len(errors) >= 0.75


def test_the_upper_bound_factors_are_the_90th_percentile_of_the_public_rows():
    """planner.estimate.bounds holds measured ÷ estimated at the 90th percentile per method; an estimator change
    that moves them fails here until the constants are updated (issue 16, CONTRACTS §12)."""
    from planner.estimate.bounds import ALL_ROWS_FACTOR, UPPER_FACTORS, UPPER_PERCENTILE

    results = memory_results(str(FIXTURES / "measured-public.csv"))

    def percentile(values):
        values = sorted(values)
        k = (len(values) - 1) * UPPER_PERCENTILE
        low, high = int(k), min(int(k) + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (k - low)

    for method, factor in UPPER_FACTORS.items():
        ratios = [r.measured / r.estimate for r in results if r.case.setup.method == method]
        assert len(ratios) >= 15 and max(1.0, percentile(ratios)) == pytest.approx(factor, abs=0.005), method
    assert percentile([r.measured / r.estimate for r in results]) == pytest.approx(ALL_ROWS_FACTOR, abs=0.005)


# Per-stack scores on the public rows, through the same setup the CLI's --stack builds (planner.estimate.stacks;
# calibration maps each row's framework to its stack). Measured 2026-12-04: hf-legacy 12 rows 3.3 % median,
# 100 % within ±25 %, 0 % under by >10 %; litgpt 31 rows 6.7 %, 87 %, 6 %; torchtune 22 rows 15.0 %, 64 %,
# 14 %. Bounds a little above today's figures: a change that makes a stack worse fails here.
STACK_BOUNDS = {"hf-legacy": (0.05, 0.95, 0.05), "litgpt": (0.08, 0.84, 0.08), "torchtune": (0.17, 0.60, 0.16)}


def test_each_stack_scores_no_worse_than_today_through_the_cli_setup():
    from collections import defaultdict

    by_stack = defaultdict(list)
    for result in memory_results(str(FIXTURES / "measured-public.csv")):
        by_stack[result.case.setup.stack].append(result)
    assert set(by_stack) == set(STACK_BOUNDS)
    for stack, (median_abs, within_25, under_10) in STACK_BOUNDS.items():
        score = summarize(by_stack[stack])
        assert score.median_abs <= median_abs, (stack, score.median_abs)
        assert score.share_within(0.25) >= within_25, (stack, score.share_within(0.25))
        assert score.share_below(0.10) <= under_10, (stack, score.share_below(0.10))


def test_a_plan_for_a_stack_is_the_estimate_its_rows_are_scored_with(capsys):
    """`plan --stack litgpt` builds the setup the calibration path builds for a LitGPT row."""
    import json

    from planner.estimate.stacks import STACKS, with_stack
    from planner.estimate.setup import TrainingSetup
    from planner.spec import Stack
    from tests.cli_inprocess import run_cli

    assert tuple(Stack.__args__) == STACKS
    code, out, err = run_cli(capsys, "plan", "--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "lora", "--seq-len",
                             "4096", "--stack", "hf-legacy", "--json")
    legacy = json.loads(out)
    code, out, err = run_cli(capsys, "plan", "--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "lora", "--seq-len",
                             "4096", "--json")
    ours = json.loads(out)
    assert legacy["stack"] == "hf-legacy" and ours["stack"] == "tuneplan"
    assert legacy["breakdown_gib"]["logits"] > 0 == ours["breakdown_gib"]["logits"], "only the old stack builds fp32 logits"
    setup = with_stack(TrainingSetup(), "litgpt")
    assert setup.framework == "litgpt" and setup.stack == "litgpt" and not setup.uses_fused_lm_head


def test_a_spec_names_its_stack_and_the_templates_accept_it(tmp_path, capsys):
    import json

    import yaml

    from tests.cli_inprocess import run_cli

    spec = yaml.safe_load((Path(__file__).parents[1] / "examples" / "qwen7b-qlora-sft.yaml").read_text())
    spec["training"]["stack"] = "axolotl"
    path = tmp_path / "axolotl.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, out, err = run_cli(capsys, "plan", "--spec", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["stack"] == "axolotl"
    spec["training"]["stack"] = "axolotll"
    path.write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(capsys, "plan", "--spec", str(path))
    assert code == 2 and "training.stack" in err
    from templates.source import common

    assert common.DEFAULTS["training.stack"] == "tuneplan"  # a job.json with the key is not refused
