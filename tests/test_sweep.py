"""Issue 26, item 4: sweeps. A grid from the spec (or ``--sweep``) is checked point by point before anything is
priced, shown as one plan with its total, run a few at a time on the real local provider, and ends with the runs'
metrics side by side (also later, from the ledger, with ``sweep show``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from planner.errors import BadInput
from planner.spec import spec_from_dict
from planner.sweep import MAX_POINTS, parse_flags, points
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_a_grid_is_every_combination_each_a_whole_validated_spec():
    spec = spec_from_dict({"name": "support-bot", "model": "tiny", "tags": {"team": "nlp"},
                           "sweep": {"training.learning_rate": [1e-4, 2e-4], "lora.r": [8, 16, 32]}})
    grid = points(spec, "support-bot-20261204-120000-abcd")
    assert len(grid) == 6 and [p.number for p in grid] == list(range(1, 7))
    assert [(p.spec.training.learning_rate, p.spec.lora.r) for p in grid] == [
        (1e-4, 8), (1e-4, 16), (1e-4, 32), (2e-4, 8), (2e-4, 16), (2e-4, 32)]
    assert grid[4].label == "learning_rate=0.0002 r=16"
    assert {p.spec.name for p in grid} == {f"support-bot-s{i}" for i in range(1, 7)}
    assert all(p.spec.tags == {"team": "nlp", "sweep": "support-bot-20261204-120000-abcd"} for p in grid)
    assert all(not p.spec.sweep for p in grid), "a point is one run, not another sweep"
    assert points(spec_from_dict({"model": "tiny"})) == []


@pytest.mark.parametrize(("sweep", "says"), [
    ({"training.learnin_rate": [1e-4]}, "unknown key 'training.learnin_rate' (did you mean 'learning_rate'"),
    ({"lora": [8]}, "'lora' is a section, not one value"),
    ({"owner": ["ann", "bob"]}, "'owner' cannot be swept"),
    ({"lora.r": []}, "'lora.r' has no values"),
    ({"lora.r": [8, 8]}, "lists a value twice"),
    ({"lora.r": list(range(1, 17)), "training.seq_len": list(range(1, 6))},
     f"80 combinations; a sweep runs at most {MAX_POINTS}"),
])
def test_a_sweep_that_cannot_be_run_is_one_clear_line(sweep, says):
    with pytest.raises(BadInput) as caught:
        spec_from_dict({"model": "tiny", "sweep": sweep})
    assert says in str(caught.value)


def test_a_point_the_spec_would_refuse_is_refused_before_anything_is_priced():
    spec = spec_from_dict({"model": "tiny", "sweep": {"lora.r": [8, 0]}})
    with pytest.raises(BadInput, match=r"sweep point 2: 'lora.r': .*greater than 0 \(r=0\)"):
        points(spec)


def test_sweep_flags_read_numbers_words_and_null():
    assert parse_flags(["lora.r=8,16", "training.precision=bf16,fp32", "smoke.fail_at=2,null"]) == {
        "lora.r": [8, 16], "training.precision": ["bf16", "fp32"], "smoke.fail_at": [2, None]}
    with pytest.raises(BadInput, match="KEY=V1,V2"):
        parse_flags(["lora.r"])


def _ledger_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))


def test_a_dry_run_prices_every_point_and_the_total_and_starts_nothing(capsys, tmp_path, monkeypatch):
    _ledger_env(monkeypatch, tmp_path)
    code, out, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--sweep",
                             "training.max_steps=2,4,6", "--dry-run", "--parallel", "2")
    assert code == 0, err
    assert "Sweep plan: 3 runs" in out and "max_steps=6" in out and "2 at a time" in out and "total $" in out
    assert "nothing was started" in out
    code, out, _ = run_cli(capsys, "jobs", "--json")
    assert json.loads(out) == []
    code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--parallel", "2", "--dry-run")
    assert code == 2 and "--parallel is for a sweep" in err


def test_a_sweep_runs_its_points_a_few_at_a_time_and_shows_them_side_by_side(capsys, tmp_path, monkeypatch):
    _ledger_env(monkeypatch, tmp_path)
    spec = yaml.safe_load((ROOT / "examples" / "tiny-smoke.yaml").read_text())
    spec["data"]["train"] = str(ROOT / "examples" / spec["data"]["train"])
    spec["smoke"]["step_seconds"] = 0.05
    spec["sweep"] = {"training.max_steps": [3, 5], "smoke.fail_at": [None, 2]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, out, err = run_cli(capsys, "launch", str(path), "--yes", "--parallel", "2", "--set", "smoke.step_seconds=0.04")
    assert code == 1 and "2 of 4 runs of sweep tiny-smoke-" in err, "two points fail on purpose: the exit says so"
    assert "Sweep tiny-smoke-" in out and "train_loss" in out and "(best)" in out
    records = json.loads(run_cli(capsys, "jobs", "--json")[1])
    assert len(records) == 4 and len({r["tags"]["sweep"] for r in records}) == 1
    sweep_id = records[0]["tags"]["sweep"]
    by_steps = {(r["overrides"]["sweep"]["values"]["training.max_steps"],
                 r["overrides"]["sweep"]["values"]["smoke.fail_at"]): r for r in records}
    assert {k: r["state"] for k, r in by_steps.items()} == {
        (3, None): "succeeded", (5, None): "succeeded", (3, 2): "failed", (5, 2): "failed"}
    assert all(r["overrides"]["set"] == {"smoke": {"step_seconds": 0.04}} for r in records), "--set is recorded too"
    for (steps, _), record in by_steps.items():
        job = json.loads((Path(record["runs_dir"]) / "bundle" / "job.json").read_text())
        assert job["training"]["max_steps"] == steps and "sweep" not in job, "each run trains its own point"
    starts = sorted((r["started_at"], r["ended_at"]) for r in records)
    assert starts[1][0] < starts[0][1], "two ran at once (--parallel 2)"
    assert max(sum(1 for s, e in starts if s <= start < e) for start, _ in starts) <= 2, "never more than two"
    code, out, err = run_cli(capsys, "sweep", "show", sweep_id[:12], "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["sweep"] == sweep_id and [r["point"] for r in shown["runs"]] == [1, 2, 3, 4]
    succeeded = [r for r in shown["runs"] if r["state"] == "succeeded"]
    assert all("train_loss" in r["metrics"] for r in succeeded)
    assert shown["best"] == min(succeeded, key=lambda r: r["metrics"]["train_loss"])["point"]
    assert all(r["problem"] for r in shown["runs"] if r["state"] == "failed")
    code, out, _ = run_cli(capsys, "report", "--by", "tag:sweep", "--json")
    assert code == 0 and sweep_id in out, "finance totals a sweep by its tag"


def test_a_team_budget_must_take_the_whole_sweep(capsys, tmp_path, monkeypatch):
    _ledger_env(monkeypatch, tmp_path)
    hour_long = ["--set", "smoke.step_seconds=60", "--set", "training.max_steps=60"]  # $0.024 each here (80 W)
    code, _, err = run_cli(capsys, "budget", "set", "examples", "0.04")
    assert code == 0, err
    smoke = str(ROOT / "examples" / "tiny-smoke.yaml")
    code, out, err = run_cli(capsys, "launch", smoke, *hour_long, "--sweep", "training.seed=1,2", "--dry-run")
    assert code == 0 and out.count("$0.02 ") == 2, "each run alone fits the budget"
    assert "total $0.05" in out
    code, _, err = run_cli(capsys, "launch", smoke, *hour_long, "--yes", "--sweep", "training.seed=1,2")
    assert code == 2 and "the whole sweep ($0.05)" in err and "budget" in err
    assert json.loads(run_cli(capsys, "jobs", "--json")[1]) == [], "nothing started"


def test_ctrl_c_stops_the_running_points_tears_them_down_and_starts_no_more(tmp_path, monkeypatch):
    from planner.spec import load_spec
    from remote_jobs.clock import SystemClock
    from remote_jobs.launch import bundle_and_validate
    from remote_jobs.ledger import Ledger
    from remote_jobs.sweep import prepare_sweep, run_sweep

    _ledger_env(monkeypatch, tmp_path)

    class CtrlCOnTheThirdWait(SystemClock):
        waits = 0

        def sleep(self, seconds: float) -> None:
            self.waits += 1
            if self.waits == 3:
                raise KeyboardInterrupt
            super().sleep(min(seconds, 0.2))

    clock = CtrlCOnTheThirdWait()
    spec = load_spec(ROOT / "examples" / "tiny-smoke.yaml", {
        "smoke": {"step_seconds": 1.0}, "training": {"max_steps": 120}, "sweep": {"training.seed": [1, 2, 3]}})
    plan = prepare_sweep(spec, ROOT / "examples" / "tiny-smoke.yaml", None, clock, None, {}, parallel=2)
    root = tmp_path / "runs"
    bundles = [bundle_and_validate(request, root, validate=False) for request in plan.requests]
    book = Ledger(tmp_path / "ledger.sqlite3", clock)
    asked = []
    result = run_sweep(plan, bundles, book, clock, root, on_interrupt=lambda: asked.append(1) or True, poll_s=0.1)
    assert asked == [1], "asked once for the whole sweep"
    first, second, third = result.outcomes
    for outcome in (first, second):
        assert outcome.record.state.value == "cancelled" and outcome.record.torn_down_at is not None
    assert third.record is None and "not started" in third.problem
    assert book.get(plan.requests[2].run_id) is None, "the point never started has no run"
    assert not result.all_succeeded
