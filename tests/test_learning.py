"""Issue 18: estimates that learn from the team's own runs — corrections drawn from finished runs (shrunk, without
failed runs or outliers), applied to plans and recommendations visibly, never making a fit look safer, and end to
end on two real tiny local runs."""

from __future__ import annotations

import json
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from planner.catalog.gpus import gpu_catalog
from planner.learning import PastRun, correction_for, learn, shrunk
from planner.models import resolve_local
from planner.plan import DataSize, make_plan
from planner.estimate.setup import TrainingSetup
from providers.types import RunState
from remote_jobs.learned import past_run
from remote_jobs.records import RunRecord
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
MODEL = "Qwen/Qwen2.5-7B-Instruct"


def _runs(device: str, ratio: float, count: int, **extra) -> list[PastRun]:
    """``count`` succeeded qlora SFT runs on ``device`` whose training loop ran ``ratio`` times as long as planned."""
    return [PastRun(device, "qlora", "sft", "tuneplan", True, estimate_tokens_per_s=1000.0,
                    measured_tokens_per_s=1000.0 / ratio, provisioning_s=120.0 + i, **extra) for i in range(count)]


def test_a_slow_card_is_corrected_and_an_exact_one_is_not():
    learned = learn(_runs("L4", 1.2, 8) + _runs("A10G", 1.0, 8))
    slow, exact = learned["L4", "qlora", "sft", "tuneplan"], learned["A10G", "qlora", "sft", "tuneplan"]
    assert slow.time.value == pytest.approx(1 + 0.2 * 8 / 9), "shrunk toward 1 as if one more run matched"
    assert exact.time.value == pytest.approx(1.0) and exact.throughput_factor == pytest.approx(1.0)
    assert slow.describe() == "calibrated on 8 runs of qlora sft on L4: tokens/s ×0.85"
    model = resolve_local(MODEL)
    setup = TrainingSetup(method="qlora", quant="nf4", seq_len=2048)
    cards = [gpu_catalog()["L4"], gpu_catalog()["A10G"]]
    plain = make_plan(model, setup, DataSize(), cards)
    calibrated = make_plan(model, setup, DataSize(), cards, corrections=learned)
    assert calibrated.fits["L4"].hours / plain.fits["L4"].hours == pytest.approx(slow.time.value)
    assert calibrated.fits["A10G"].hours == pytest.approx(plain.fits["A10G"].hours)
    block = calibrated.to_json()["fits"]["L4"]["calibration"]
    assert block["runs"] == 8 and block["uncalibrated_hours"] == round(plain.fits["L4"].hours, 3)


def test_one_run_moves_the_estimate_half_way_and_outliers_and_failures_do_not_move_it():
    assert shrunk([1.2]).value == pytest.approx(1.1), "one run: half its ratio"
    steady = learn(_runs("L4", 1.2, 6))["L4", "qlora", "sft", "tuneplan"].time
    noisy = _runs("L4", 1.2, 6) + _runs("L4", 9.0, 1)  # a run that waited on a download
    noisy += [PastRun("L4", "qlora", "sft", "tuneplan", False, estimate_tokens_per_s=1000.0,
                      measured_tokens_per_s=100.0) for _ in range(5)]  # failed runs stop early: ignored
    learned = learn(noisy)["L4", "qlora", "sft", "tuneplan"]
    assert learned.time.raw == pytest.approx(steady.raw) and learned.time.dropped == 1 and learned.ignored == 5
    assert learned.time.value == pytest.approx(1 + 0.2 * 6 / 7)
    assert learn([PastRun("L4", "qlora", "sft", "tuneplan", False, estimate_hours=1.0, actual_hours=3.0)]) == {}
    assert correction_for(learn(_runs("L4", 1.2, 3)), "L4", "lora", "sft") is None, "another method: no correction"


def test_a_memory_factor_never_makes_a_fit_look_safer():
    model = resolve_local(MODEL)
    setup = TrainingSetup(method="qlora", quant="nf4", seq_len=4096, micro_batch=4)
    card = [gpu_catalog()["L4"]]
    plain = make_plan(model, setup, DataSize(), card).fits["L4"]
    lighter = learn(_runs("L4", 1.0, 5, estimate_peak_gib=20.0, measured_peak_gib=10.0))
    heavier = learn(_runs("L4", 1.0, 5, estimate_peak_gib=10.0, measured_peak_gib=30.0))
    low = make_plan(model, setup, DataSize(), card, corrections=lighter).fits["L4"]
    high = make_plan(model, setup, DataSize(), card, corrections=heavier).fits["L4"]
    assert low.headroom_gib == plain.headroom_gib and low.verdict == plain.verdict, "a factor below 1 is not used"
    assert lighter["L4", "qlora", "sft", "tuneplan"].memory_factor < 1
    assert high.headroom_gib < plain.headroom_gib and high.verdict == "no"
    assert make_plan(model, setup, DataSize(), card, corrections=lighter).to_json()["peak_vram_upper_gib"] == \
        make_plan(model, setup, DataSize(), card).to_json()["peak_vram_upper_gib"]


def test_a_ledger_record_becomes_a_measurement():
    record = RunRecord(run_id="r", gpu="L4", method="qlora", task="sft", stack="", state=RunState.SUCCEEDED,
                       ended_at=None, estimate_hours=1.0, uncalibrated_hours=1.5, estimate_tokens_per_s=900.0,
                       provisioning_s=100.0, running_s=3000.0, estimate_peak_gib=12.0, actual_usd=Decimal("2.00"),
                       billed_usd=Decimal("2.20"),
                       metrics={"tokens_per_s": 1000.0, "tokens": 2_500_000, "peak_mem_reserved_gib": 13.2})
    measured = past_run(record)
    assert measured.kind == ("L4", "qlora", "sft", "tuneplan")
    assert measured.estimate_hours == 1.5, "held to the estimate before any correction"
    assert measured.time_ratio == pytest.approx(0.9) and measured.memory_ratio == pytest.approx(1.1)
    assert measured.overhead_s == pytest.approx(500.0) and measured.price_ratio == pytest.approx(1.1)
    assert past_run(RunRecord(run_id="x", metrics={"tokens_per_s": "nan?"})).measured_tokens_per_s is None


@pytest.mark.slow
def test_two_tiny_local_runs_calibrate_the_plan_for_this_machine(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    spec = str(ROOT / "examples" / "tiny-sft.yaml")
    code, out, err = run_cli(capsys, "plan", "--spec", spec, "--json")
    assert code == 0, err
    before = json.loads(out)
    assert before["calibration"]["applied"] is False and before["data"]["assumed"] is False
    for _ in range(2):
        code, _, err = run_cli(capsys, "launch", spec, "--yes", "--no-validate")
        assert code == 0, err
    code, out, err = run_cli(capsys, "jobs", "--json")
    runs = [r for r in json.loads(out) if r["state"] == "succeeded"]
    measured_s = statistics.median(r["running_s"] for r in runs)
    from remote_jobs.ledger import Ledger

    recorded = Ledger(tmp_path / "ledger.sqlite3").runs()
    assert all(r.stack == "tuneplan" and r.estimate_tokens_per_s for r in recorded)
    assert recorded[0].calibration is not None and recorded[0].uncalibrated_hours is not None, "the second launch"
    code, out, err = run_cli(capsys, "plan", "--spec", spec, "--json")
    after = json.loads(out)
    block = after["calibration"]
    assert block["applied"] and block["runs"] == 2 and "on cpu" in block["source"]
    local = next(entry for entry in after["local"] if entry["gpu"] == "cpu")
    plain_s = block["uncalibrated"]["local cpu"] * 3600
    calibrated_s = local["hours"] * 3600
    assert abs(calibrated_s - measured_s) < abs(plain_s - measured_s), (calibrated_s, plain_s, measured_s)
    assert abs(calibrated_s / measured_s - 1) <= 0.4
    code, out, _ = run_cli(capsys, "plan", "--spec", spec, "--json", "--no-calibration")
    assert json.loads(out)["calibration"] == {"applied": False, "runs": 0, "memory_factor": 1.0,
                                              "throughput_factor": 1.0, "source": "--no-calibration"}
    code, out, _ = run_cli(capsys, "recommend", "--spec", spec, "--providers", "local", "--json")
    assert json.loads(out)["calibration"]["applied"] is True
