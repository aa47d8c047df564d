"""`tuneplan report` on a ledger: per-run lines and totals for a period, estimate against actual, the
formats and files it writes, budgets from the settings, and one-line errors for mistakes."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from planner.errors import BadInput
from providers.types import RunState
from remote_jobs.ledger import Ledger
from remote_jobs.report import build_report, month_range
from remote_jobs.reporting import ReportOptions
from remote_jobs.reporting.to_csv import to_csv
from remote_jobs.reporting.to_json import to_json
from tests.cli_inprocess import run_cli
from tests.ledger_seed import FixedClock, ledger_spend, seed_records, write_ledger
from tests.test_ledger import record


def nov(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=timezone.utc)


def fill(ledger: Ledger) -> None:
    rows = [
        record("a-20261102-120000-0001", project="support", owner="alice", provider="runpod", gpu="RTX4090",
               created_at=nov(2), estimate_usd=Decimal("1.00"), actual_usd=Decimal("1.20"), running_s=3600.0,
               provisioning_s=180.0, state=RunState.SUCCEEDED, ended_at=nov(2)),
        record("b-20261110-120000-0002", project="support", owner="bob", provider="local", gpu="cpu",
               created_at=nov(10), estimate_usd=Decimal("0.010000"), actual_usd=Decimal("0.008"),
               billed_usd=None, running_s=1800.0, state=RunState.SUCCEEDED, ended_at=nov(10)),
        record("c-20261120-120000-0003", project="search", owner="alice", provider="runpod", gpu="H100",
               created_at=nov(20), estimate_usd=Decimal("5.00"), actual_usd=Decimal("6.00"),
               billed_usd=Decimal("6.50"), running_s=7200.0, state=RunState.BUDGET_STOPPED, ended_at=nov(20),
               failure_reason="budget"),
        record("d-20261125-120000-0004", project="search", owner="carol", created_at=nov(25),
               state=RunState.RUNNING),
        record("e-20261201-120000-0005", created_at=datetime(2026, 12, 1, 1, tzinfo=timezone.utc)),
    ]
    for row in rows:
        ledger.create(row)


NO_PAYBACK = ReportOptions(rent_vs_buy=False)


def test_month_range_and_its_mistakes():
    assert month_range("2026-12") == (datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))
    for bad in ("2026-13", "Nov", "2026/11"):
        with pytest.raises(BadInput, match="--month"):
            month_range(bad)


def test_totals_grouping_and_estimate_against_actual(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3")
    fill(ledger)
    report = build_report(ledger, "2026-11", "project", None, NO_PAYBACK, FixedClock())
    assert [line.record.run_id[0] for line in report.lines] == ["a", "b", "c", "d"]
    a, b, c, d = report.lines
    assert a.delta_usd == Decimal("0.20") and a.hours == pytest.approx(1.05)
    assert b.cost_usd == Decimal("0.008"), "a run's money keeps hundredths of a cent: small runs are not rounded away"
    assert c.cost_usd == Decimal("6.50") and c.billed_delta_usd == Decimal("0.50"), "the provider's bill wins"
    assert d.cost_usd is None and report.total.unfinished == 1
    groups = {g.key: g.totals for g in report.groups}
    assert groups[("support",)].cost_usd == Decimal("1.208") and groups[("search",)].runs == 2
    assert report.total.cost_usd == Decimal("7.708") == sum(g.cost_usd for g in groups.values())
    assert report.total.estimate_usd == Decimal("7.2446"), "1.00 + 0.01 + 5.00 + 1.2346 (d's estimate)"
    assert report.total.failed_usd == Decimal("6.50") and report.total.failed_runs == 1
    with pytest.raises(BadInput, match="did you mean 'owner'"):
        build_report([], "2026-11", "ownr", None, NO_PAYBACK, FixedClock())


def test_csv_and_json_carry_money_as_exact_decimals(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3")
    fill(ledger)
    report = build_report(ledger, "2026-11", "gpu", None, NO_PAYBACK, FixedClock())
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert rows[0]["recorded_usd"] == "1.2000" and rows[0]["delta_usd"] == "0.2000"
    assert rows[2]["billed_usd"] == "6.5000" and rows[3]["cost_usd"] == ""
    assert rows[0]["price_usd_per_hour"] == "0.024000" and rows[0]["price_source"] == "electricity"
    data = json.loads(json.dumps(to_json(report)))
    assert data["total"]["cost_usd"] == "7.7080" and {g["label"] for g in data["groups"]} == {"RTX4090", "cpu", "H100"}


def test_the_report_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")  # piped, the report takes the width of the terminal it was typed in
    path = tmp_path / "l.sqlite3"
    fill(Ledger(path))
    code, out, err = run_cli(capsys, "report", "--month", "2026-11", "--by", "owner", "--format", "json",
                             "--ledger", str(path))
    assert code == 0, err
    data = json.loads(out)
    assert data["month"] == "2026-11" and len(data["runs"]) == 4
    assert {g["label"]: g["runs"] for g in data["groups"]} == {"alice": 2, "bob": 1, "carol": 1}
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-12-05T10:00:00Z")  # "this month" comes from the injected clock
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(path))
    code, out, _ = run_cli(capsys, "report", "--format", "csv")
    assert code == 0 and out.count("\n") == 3 and "e-20261201-120000-0005" in out
    assert "d-20261125-120000-0004" in out, "a run still open in December is part of December"
    code, out, _ = run_cli(capsys, "report", "--month", "2026-11", "--by", "provider")
    assert code == 0 and "provider runpod: 2 runs" in out and "total: 4 runs (1 unfinished)" in out
    code, out, _ = run_cli(capsys, "report", "--month", "2026-11", "--project", "suport")
    assert code == 0 and "no runs in 2026-11 matching project suport" in out and "did you mean 'support'" in out
    code, _, err = run_cli(capsys, "report", "--format", "xls")
    assert code == 2 and "--format" in err
    code, _, err = run_cli(capsys, "report", "--month", "2026-11", "--quarter", "Q4")
    assert code == 2 and err.startswith("error: give one of --month")


def test_the_command_writes_every_format_and_they_agree(capsys, tmp_path, monkeypatch):
    path = write_ledger(tmp_path / "seed.sqlite3", seed_records(200, seed=11))
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    monkeypatch.chdir(tmp_path)
    args = ("report", "--quarter", "2026-Q3", "--by", "project,provider", "--provider", "runpod",
            "--provider", "skypilot", "--ledger", str(path))
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["by"] == ["project", "provider"] and {r["provider"] for r in data["runs"]} <= {"runpod", "skypilot"}
    total = Decimal(data["total"]["cost_usd"])
    assert total == sum(Decimal(r["cost_usd"] or 0) for r in data["runs"])
    code, _, err = run_cli(capsys, *args, "--format", "xlsx")
    assert code == 0 and "wrote tuneplan-report-2026-Q3.xlsx" in err and (tmp_path / "tuneplan-report-2026-Q3.xlsx").is_file()
    code, _, err = run_cli(capsys, *args, "--format", "html", "--output", "q3.html")
    assert code == 0 and str(total) in (tmp_path / "q3.html").read_text().replace(",", "")
    code, _, err = run_cli(capsys, *args, "--format", "csv", "--pdf")
    assert code == 2 and "--pdf prints the HTML report" in err


def test_budgets_from_the_settings_warn_in_the_table(capsys, tmp_path, monkeypatch):
    path = write_ledger(tmp_path / "seed.sqlite3", seed_records(320))
    expected = {}
    for project in ("support", "vision"):
        report = build_report(Ledger(path), "2026-11", (), None, NO_PAYBACK, FixedClock())
        expected[project] = sum((line.cost_usd or 0 for line in report.lines if line.record.project == project),
                                Decimal(0))
    config = tmp_path / "config"
    config.mkdir()
    # support just past 80 %, vision far under
    (config / "settings.yaml").write_text(f"budgets:\n  monthly_usd:\n    support: {expected['support'] / Decimal('0.85'):.2f}\n"
                                          f"    vision: {expected['vision'] * 10:.2f}\n")
    monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(config))
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    code, out, err = run_cli(capsys, "report", "--ledger", str(path), "--no-lines")
    assert code == 0, err
    assert "warning: support: 85.0 % of its" in " ".join(out.split()) and "warning: vision:" not in out
    shown = re.search(r"cost \$([\d,]+\.\d{4})", out)
    assert shown and ledger_spend(path, *month_range("2026-11")).matches(Decimal(shown.group(1).replace(",", "")))


def test_an_empty_month_is_one_clear_line(capsys, tmp_path):
    path = tmp_path / "l.sqlite3"
    fill(Ledger(path))
    code, out, err = run_cli(capsys, "report", "--month", "2025-03", "--ledger", str(path))
    assert code == 0, err
    assert "no runs in 2025-03: nothing was spent" in out
    code, _, err = run_cli(capsys, "report", "--ledger", str(tmp_path / "typo.sqlite3"))
    assert code == 2 and "no ledger at" in err and not (tmp_path / "typo.sqlite3").exists()
