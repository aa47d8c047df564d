"""Rent versus buy: the month-by-month cash flows and break-even month (hand-computed cases), work-based
comparison across GPU speeds, the job-spec mode, and the CLI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from planner import rent_vs_buy as rvb
from planner.catalog.gpus import find_gpu
from planner.catalog.prices import snapshot
from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.models import resolve_local
from planner.plan import DataSize
from planner.recommend import Job
from tests.cli_inprocess import cli_json, run_cli

TODAY = date(2026, 11, 26)


def owning(purchase="1800", host="0", resale="30", watts=500.0, kwh="0.30") -> rvb.Owning:
    return rvb.Owning(Decimal(purchase), "given", Decimal(host), Decimal(resale), watts, Decimal(kwh))


def test_power_per_month_by_hand():
    # 500 W × 120 h = 60 kWh; × $0.30 = $18.00
    assert owning().usd_per_month(120) == Decimal("18.00")
    assert owning().resale_usd == Decimal("540.00")


def test_break_even_month_by_hand():
    # own: 1800 + 18 m; rent: 0.74 $/h × 120 h = 88.80 m.  m = 25: 2250 > 2220; m = 26: 2268 ≤ 2308.80.
    series = rvb.cumulative(owning(), Decimal("18.00"), Decimal("88.80"), 36)
    assert series.break_even_month == 26
    assert series.own_usd[25] == Decimal("2250.00") and series.rent_usd[25] == Decimal("2220.00")
    assert series.own_usd[26] == Decimal("2268.00") and series.rent_usd[26] == Decimal("2308.80")
    assert series.own_usd[36] == Decimal("1800") + 36 * Decimal("18.00") - Decimal("540.00")
    assert len(series.own_usd) == len(series.rent_usd) == 37 and series.rent_usd[0] == 0


def test_never_within_the_horizon():
    # rent 40.80 × 36 = 1468.80 < own 1800 + 648 − 540 = 1908
    series = rvb.cumulative(owning(), Decimal("18.00"), Decimal("40.80"), 36)
    assert series.break_even_month is None and series.own_usd[-1] == Decimal("1908.00")


def test_resale_in_the_last_month_can_tip_it():
    # own 1000 (no power), resale 50 % = 500 in month 12; rent 45/month: 495 < 1000 in month 11, 540 ≥ 500 in month 12
    own = owning(purchase="1000", resale="50", watts=0.0)
    series = rvb.cumulative(own, Decimal("0.00"), Decimal("45.00"), 12)
    assert series.break_even_month == 12 and series.own_usd[11] == Decimal("1000") and series.own_usd[12] == Decimal("500.00")


def test_host_share_is_paid_up_front():
    series = rvb.cumulative(owning(host="600"), Decimal("18.00"), Decimal("88.80"), 36)
    assert series.own_usd[0] == Decimal("2400") and series.break_even_month == 34  # 2400 + 18m ≤ 88.8m ⇔ m ≥ 33.9


def test_owning_defaults_to_the_catalog_street_price():
    own = rvb.owning_for(find_gpu("RTX4090"), None, Decimal(0), Decimal(30), Decimal("0.30"))
    assert own.purchase_usd == Decimal("3159.99") and "2025-07-22" in own.purchase_source
    assert own.power_watts == pytest.approx(450 * 0.9 + 60)


def test_by_hours_compares_work_not_hours():
    own = rvb.owning_for(find_gpu("RTX3090"), Decimal("800"), Decimal(0), Decimal(30), Decimal("0.30"))
    result = rvb.by_hours("RTX3090", list(snapshot()), TODAY, 100, own, 3)
    ratio = result.basis["rented_hours_per_owned_hour"]
    assert result.rent_hours_per_month == pytest.approx(100 * ratio, rel=1e-3)
    assert ratio == pytest.approx(result.basis["owned_tokens_per_s"] / result.basis["rented_tokens_per_s"], rel=1e-2)
    expected = (result.rental.cost.usd_per_hour * Decimal(repr(round(result.rent_hours_per_month, 6)))).quantize(Decimal("0.01"))
    assert abs(result.rent_usd_per_month - expected) <= Decimal("0.01")
    assert result.rental.gpus == 1 and result.rental.fits


def test_by_job_counts_runs_and_fixed_costs():
    job = Job(resolve_local("Qwen/Qwen2.5-7B-Instruct"), TrainingSetup(method="qlora", quant="nf4", micro_batch=2),
              DataSize(5000, 600, 3))
    own = rvb.owning_for(find_gpu("RTX4090"), Decimal("1800"), Decimal(0), Decimal(30), Decimal("0.30"))
    result = rvb.by_job("RTX4090", job, 8, list(snapshot()), TODAY, own, 3)
    assert result.rent_usd_per_month == (result.rental.usd * 8).quantize(Decimal("0.01"))
    assert result.rental.cost.terms["provisioning"] > 0
    assert result.own_hours_per_month == pytest.approx(8 * result.basis["owned_hours_per_run"], rel=1e-3)
    too_big = Job(resolve_local("meta-llama/Llama-3.1-70B-Instruct"), TrainingSetup(method="lora"), DataSize())
    with pytest.raises(BadInput, match="does not fit on one RTX4090"):
        rvb.by_job("RTX4090", too_big, 8, list(snapshot()), TODAY, own, 3)


def test_cli_hours_mode(capsys):
    out = cli_json(capsys, "rent-vs-buy", "--gpu", "RTX4090", "--price-usd", "1800", "--hours-per-month", "120",
                   "--kwh-usd", "0.30", "--years", "3", "--resale-pct", "30")
    assert out["own"]["purchase_usd"] == "1800.00" and out["own"]["resale_usd"] == "540.00"
    assert len(out["series"]["month"]) == 37 and out["series"]["own_usd"][0] == "1800.00"
    assert out["verdict"] and (out["break_even_month"] is None) == ("renting stays cheaper" in out["verdict"])
    assert out["rent"]["price_source"] and out["rent"]["price_as_of"]


def test_cli_spec_mode_and_errors(capsys):
    out = cli_json(capsys, "rent-vs-buy", "--gpu", "RTX 4090", "--price-usd", "1800",
                   "--spec", "examples/qwen7b-qlora-sft.yaml", "--runs-per-month", "8")
    assert out["basis"]["mode"] == "job" and out["basis"]["runs_per_month"] == 8
    code, _, err = run_cli(capsys, "rent-vs-buy", "--gpu", "RTX4090", "--spec", "examples/qwen7b-qlora-sft.yaml")
    assert code == 2 and "go together" in err
    code, _, err = run_cli(capsys, "rent-vs-buy", "--gpu", "RTX4090", "--resale-pct", "130")
    assert code == 2 and err.count("\n") == 1
    code, out_text, _ = run_cli(capsys, "rent-vs-buy", "--gpu", "RTX4090", "--price-usd", "1800")
    assert code == 0 and "Cumulative cost" in out_text


def test_an_h100_bought_is_compared_with_an_h100_rented_within_a_calendar_month(capsys):
    """Issue 21: buying an H100 was compared with renting an RTX4090 for 1,938 h a month."""
    out = cli_json(capsys, "rent-vs-buy", "--gpu", "H100", "--price-usd", "25000", "--hours-per-month", "700")
    rent = out["rent"]
    assert rent["gpu"] == "H100" and rent["same_card"] and rent["hours_per_month"] == 700
    assert rent["price_source"] and rent["price_as_of"]
    alt = out["alternative"]
    assert alt is None or (alt["gpu"] != "H100" and alt["hours_per_month"] <= 700)
    assert out["own"]["utilisation_pct"] == pytest.approx(100 * 700 / 730.5, abs=0.1)


def test_the_hours_at_which_buying_wins_balance_both_sides():
    """At the break-even hours, three years of owning (purchase − resale + power) cost what renting does."""
    own = rvb.owning_for(find_gpu("RTX4090"), Decimal("1800"), Decimal(0), Decimal(30), Decimal("0.30"))
    result = rvb.by_hours("RTX4090", list(snapshot()), TODAY, 120, own, 3)
    hours = Decimal(repr(result.break_even_hours_per_month))
    rate = result.rental.cost.usd_per_hour
    owning_total = own.purchase_usd - own.resale_usd + own.power_usd_per_hour * hours * 36
    assert abs(owning_total - rate * hours * 36) < Decimal("0.01")
    assert result.rental.gpu == "RTX4090" and result.same_card


def test_renting_cheaper_than_power_means_no_utilisation_makes_buying_pay():
    own = rvb.owning_for(find_gpu("RTX4090"), Decimal("1800"), Decimal(0), Decimal(30), Decimal("5.00"))
    result = rvb.by_hours("RTX4090", list(snapshot()), TODAY, 700, own, 3)
    assert result.break_even_hours_per_month is None and "at any utilisation" in result.verdict


def test_the_workload_can_come_from_the_teams_ledger(capsys, tmp_path, monkeypatch):
    """Issue 21: the team's own workload, the GPU hours its runs used over the last months."""
    from tests.ledger_seed import NOW, seed_records, write_ledger

    records = seed_records(120)
    path = write_ledger(tmp_path / "ledger.sqlite3", records)
    monkeypatch.setenv("TUNEPLAN_NOW", NOW.isoformat())
    out = cli_json(capsys, "rent-vs-buy", "--gpu", "RTX4090", "--from-ledger", "--months", "3", "--ledger", str(path))
    workload = out["basis"]["workload"]
    since = NOW.timestamp() - 30.44 * 3 * 86400
    expected = [r for r in records if r.gpus and r.running_s and r.created_at.timestamp() >= since]
    assert workload["runs"] == len(expected) > 0
    hours = sum(r.running_s * r.gpus for r in expected) / 3600
    assert workload["gpu_hours"] == pytest.approx(hours, abs=0.01)
    assert out["own"]["hours_per_month"] == pytest.approx(min(hours / 3, 744), abs=0.01)
    code, _, err = run_cli(capsys, "rent-vs-buy", "--gpu", "RTX4090", "--from-ledger", "--ledger",
                           str(tmp_path / "missing.sqlite3"))
    assert code == 2 and "no ledger" in err
