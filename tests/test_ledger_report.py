"""`tuneplan report`: per-run lines and totals for a month from the ledger, estimate against actual."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from planner.errors import BadInput
from providers.types import RunState
from remote_jobs.ledger import Ledger
from remote_jobs.report import build_report, month_range, to_csv, to_json
from tests.cli_inprocess import run_cli
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


def test_month_range_and_its_mistakes():
    assert month_range("2026-12") == (datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))
    for bad in ("2026-13", "Nov", "2026/11"):
        with pytest.raises(BadInput, match="--month"):
            month_range(bad)


def test_totals_grouping_and_estimate_against_actual(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3")
    fill(ledger)
    report = build_report(ledger.runs(*month_range("2026-11")), "2026-11", "project")
    assert [line.record.run_id[0] for line in report.lines] == ["a", "b", "c", "d"]
    a, b, c, d = report.lines
    assert a.delta_usd == Decimal("0.20") and a.hours == pytest.approx(1.05)
    assert c.cost_usd == Decimal("6.50"), "the provider's bill wins over rate × time"
    assert d.cost_usd is None and report.total.unfinished == 1
    groups = {g.key: g for g in report.groups}
    assert groups["support"].cost_usd == Decimal("1.208") and groups["search"].runs == 2
    assert report.total.cost_usd == Decimal("7.708") and report.total.estimate_usd == Decimal("7.244567")
    with pytest.raises(BadInput, match="did you mean 'owner'"):
        build_report([], None, "ownr")


def test_csv_and_json_carry_money_as_exact_decimals(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3")
    fill(ledger)
    report = build_report(ledger.runs(*month_range("2026-11")), "2026-11", "gpu")
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert rows[0]["actual_usd"] == "1.200000" and rows[0]["delta_usd"] == "0.200000"
    assert rows[2]["billed_usd"] == "6.500000" and rows[3]["cost_usd"] == ""
    data = json.loads(json.dumps(to_json(report)))
    assert data["total"]["cost_usd"] == "7.708000" and {g["key"] for g in data["groups"]} == {"RTX4090", "cpu", "H100"}


def test_the_report_command(capsys, tmp_path, monkeypatch):
    path = tmp_path / "l.sqlite3"
    fill(Ledger(path))
    code, out, err = run_cli(capsys, "report", "--month", "2026-11", "--by", "owner", "--format", "json",
                             "--ledger", str(path))
    assert code == 0, err
    data = json.loads(out)
    assert data["month"] == "2026-11" and len(data["runs"]) == 4
    assert {g["key"]: g["runs"] for g in data["groups"]} == {"alice": 2, "bob": 1, "carol": 1}
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-12-05T10:00:00Z")  # "this month" comes from the injected clock
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(path))
    code, out, _ = run_cli(capsys, "report", "--format", "csv")
    assert code == 0 and out.count("\n") == 2 and "e-20261201-120000-0005" in out
    code, out, _ = run_cli(capsys, "report", "--month", "2026-11", "--by", "provider")
    assert code == 0 and "provider runpod: 2 runs" in out and "total: 4 runs (1 unfinished)" in out
    code, _, err = run_cli(capsys, "report", "--format", "xlsx")
    assert code == 2 and "--format" in err
