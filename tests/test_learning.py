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


def test_the_report_shows_accuracy_by_month_before_and_after_the_corrections():
    from datetime import datetime, timedelta, timezone

    from remote_jobs.reporting import ReportOptions, build_report
    from remote_jobs.reporting.to_table import tables
    from tests.ledger_seed import FixedClock

    def run(run_id: str, start: datetime, calibrated: bool) -> RunRecord:
        return RunRecord(run_id=run_id, gpu="L4", method="qlora", task="sft", state=RunState.SUCCEEDED,
                         price_usd_per_hour=Decimal("1.00"), created_at=start, started_at=start,
                         ended_at=start + timedelta(hours=1.2), provisioning_s=0.0, running_s=4320.0,
                         actual_usd=Decimal("1.20"), estimate_hours=1.18 if calibrated else 1.0,
                         estimate_usd=Decimal("1.18") if calibrated else Decimal("1.00"),
                         uncalibrated_hours=1.0 if calibrated else None,
                         uncalibrated_usd=Decimal("1.00") if calibrated else None,
                         calibration={"source": "calibrated on 5 runs"} if calibrated else None,
                         estimate_peak_gib=10.0, metrics={"peak_mem_reserved_gib": 11.0})

    october, november = (datetime(2026, m, 10, tzinfo=timezone.utc) for m in (10, 11))
    records = [run("a", october, False), run("b", october, False), run("c", november, True)]
    report = build_report(records, "2026-11", (), None, ReportOptions(rent_vs_buy=False), FixedClock())
    oct_row, nov_row = report.accuracy_trend[-2:]
    assert (oct_row.runs, oct_row.calibrated_runs, oct_row.hours_plain_pct, oct_row.hours_pct) == (2, 0, 20.0, 20.0)
    assert (nov_row.runs, nov_row.calibrated_runs, nov_row.hours_plain_pct, nov_row.hours_pct) == (1, 1, 20.0, 1.7)
    assert nov_row.usd_plain_pct == 20.0 and nov_row.usd_pct == 1.7 and nov_row.memory_pct == 10.0
    table = next(t for t in tables(report) if t.key == "accuracy_trend")
    assert table.rows[-1] == ("2026-11", "1", "1", "20.0 %", "1.7 %", "20.0 %", "1.7 %", "10.0 %")


def test_a_providers_bills_set_its_price_for_that_device():
    from datetime import date

    from planner.catalog.prices import snapshot
    from planner.plan import DataSize as Size
    from planner.recommend import Constraints, Electricity, Job, LocalMachine, recommend

    bills = [PastRun("RTX4090", "lora", "sft", "tuneplan", True, provider="runpod", catalog_usd=1.0, billed_usd=1.1)
             for _ in range(3)]
    learned = learn(bills)
    assert learned.prices["runpod", "RTX4090"].value == pytest.approx(1 + 0.1 * 3 / 4) and len(learned) == 1
    job = Job(resolve_local(MODEL), TrainingSetup(method="qlora", quant="nf4").validated(), Size(2000, 512, 1))
    power = Electricity(Decimal("0.30"), "settings", False)

    def rates(corrections):
        found = recommend(job, snapshot(), LocalMachine(), Constraints(providers=frozenset({"runpod"})),
                          date(2026, 11, 26), power, corrections=corrections)
        return {(c.gpu, c.offering, c.spot): c for c in found.candidates}

    plain, billed = rates({}), rates(learned)
    for key, candidate in billed.items():
        before = plain[key].cost.usd_per_hour
        if key[0] == "RTX4090":
            assert candidate.cost.usd_per_hour == (before * Decimal("1.075")).quantize(Decimal("0.0001"))
            assert "3 bill(s) of runpod for RTX4090" in candidate.price_source
        else:
            assert candidate.cost.usd_per_hour == before
