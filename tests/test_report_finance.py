"""Issue 24 (first part): totals that are the sum of the lines shown, for every money column; open runs apart
from the estimate comparison, flagged when far past their
estimate; budget status on the project's whole spend whatever the filters, on stderr in every format and in
the exit code; spend in the 'default' project flagged."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from providers.types import RunState
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord
from remote_jobs.reporting import build_report
from remote_jobs.reporting.model import Filters, ReportOptions
from remote_jobs.reporting.to_csv import COLUMNS, to_csv
from remote_jobs.reporting.to_json import to_json
from remote_jobs.reporting.to_table import runs_table
from remote_jobs.reporting.text import parse_usd
from tests.cli_inprocess import run_cli
from tests.ledger_seed import NOW, FixedClock, seed_records, write_ledger

NO_PAYBACK = ReportOptions(rent_vs_buy=False)
MONEY_TOTALS = ("estimate_usd", "recorded_usd", "billed_usd", "billed_delta_usd", "cost_usd", "delta_usd",
                "committed_usd", "provisioning_usd", "idle_usd", "waste_usd")


def test_every_money_total_is_the_sum_of_its_column_in_csv_json_and_the_table(ledger_where):
    write_ledger(ledger_where, seed_records(320))
    for period in ("2026-11", "2026-06"):
        report = build_report(Ledger(ledger_where), period, ("project",), None, NO_PAYBACK, FixedClock())
        rows = list(csv.DictReader(io.StringIO(to_csv(report))))
        totals = to_json(report)["total"]
        assert set(MONEY_TOTALS) <= {name for name, (kind, _) in COLUMNS.items() if kind == "usd"}
        for column in MONEY_TOTALS:
            column_sum = sum((Decimal(row[column]) for row in rows if row[column]), Decimal("0.00"))
            assert column_sum == Decimal(totals[column]), (period, column)
        for group in to_json(report)["groups"]:  # and each group is the sum of its own lines
            mine = [row for row in rows if row["project"] == group["key"]["project"]]
            assert sum((Decimal(r["cost_usd"]) for r in mine if r["cost_usd"]), Decimal(0)) == Decimal(group["cost_usd"])
        table = runs_table(report)
        for index in (6, 7, 8, 9):  # estimate, cost, vs est., billed: the total row adds up the cells above it
            cells = [parse_usd(row[index]) for row in table.rows if row[index] != "-"]
            assert sum(cells, Decimal(0)) == parse_usd(table.total[index]), (period, table.columns[index])


T0 = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)


def _run(run_id: str, **fields) -> RunRecord:
    base = dict(name="r", project="support", owner="alice", host="h", provider="skypilot", cloud="aws", gpu="A10G",
                gpus=1, price_usd_per_hour=Decimal("3.60"), price_source="seed", price_as_of="2026-11-01",
                estimate_hours=1.0, estimate_usd=Decimal("3.60"), created_at=T0, started_at=T0)
    return RunRecord(run_id=run_id, **{**base, **fields})


def test_open_runs_stay_out_of_the_estimate_comparison_and_a_long_overrun_is_flagged(capsys, tmp_path):
    done = _run("a-20261110-120000-0001", state=RunState.SUCCEEDED, ended_at=T0 + timedelta(hours=1),
                provisioning_s=0.0, running_s=3600.0, actual_usd=Decimal("3.96"))
    stuck = _run("b-20261125-120000-0002", state=RunState.PROVISIONING, created_at=NOW - timedelta(hours=20),
                 started_at=NOW - timedelta(hours=20), estimate_hours=0.2, estimate_usd=Decimal("0.46"),
                 price_usd_per_hour=Decimal("2.30"))
    report = build_report([done, stuck], "2026-11", ("project",), None, NO_PAYBACK, FixedClock())
    assert report.total.delta_usd == Decimal("0.36") and report.total.usd_error_pct == 10.0
    assert report.lines[1].delta_usd is None and report.groups[0].totals.usd_error_pct == 10.0
    assert [line.record.run_id for line in report.open_lines] == [stuck.run_id]
    alert = next(w for w in report.warnings if stuck.run_id in w)
    assert "after 20.0 h against an estimate of 12 min" in alert and "$46.00 accrued" in alert
    path = write_ledger(tmp_path / "l.sqlite3", [done, stuck])
    code, out, err = run_cli(capsys, "report", "--month", "2026-11", "--format", "json", "--ledger", str(path))
    assert code == 0 and json.loads(out) and f"warning: {stuck.run_id} is still provisioning" in err


def test_budget_state_counts_the_whole_project_whatever_the_filters(capsys, tmp_path, monkeypatch):
    path = write_ledger(tmp_path / "seed.sqlite3", seed_records(320))
    whole = build_report(Ledger(path), "2026-11", (), None, NO_PAYBACK, FixedClock())
    search = sum((line.cost_usd or 0 for line in whole.lines if line.record.project == "search"), Decimal(0))
    budgets = ReportOptions(budgets={"search": search / 2}, rent_vs_buy=False)
    owners = sorted({line.record.owner for line in whole.lines if line.record.project == "search"})
    filtered = build_report(Ledger(path), "2026-11", (), Filters(owner=(owners[0],)), budgets, FixedClock())
    assert [b.level for b in filtered.budgets] == ["over"] and filtered.budgets[0].spent_usd == search
    assert any("whatever the filters show" in note for note in filtered.notes)
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text(f"budgets:\n  monthly_usd:\n    search: {search / 2:.2f}\n")
    monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(config))
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    for fmt in ("csv", "json", "html"):
        code, _, err = run_cli(capsys, "report", "--format", fmt, "--owner", owners[0], "--ledger", str(path))
        assert code == 0 and "warning: search:" in err and "over budget" in err, fmt
    code, _, _ = run_cli(capsys, "report", "--no-lines", "--fail-over-budget", "--ledger", str(path))
    assert code == 3
    code, _, _ = run_cli(capsys, "report", "--no-lines", "--fail-over-budget", "--project", "support",
                         "--ledger", str(path))
    assert code == 0


def test_spend_in_the_default_project_is_flagged_as_unbudgeted():
    stray = _run("a-20261110-120000-0001", project="default", state=RunState.SUCCEEDED,
                 ended_at=T0 + timedelta(hours=1), running_s=3600.0, actual_usd=Decimal("3.60"))
    report = build_report([stray], "2026-11", (), None, NO_PAYBACK, FixedClock())
    assert any("project 'default'" in w and "$3.60" in w and "no budget" in w for w in report.warnings)
    budgeted = build_report([stray], "2026-11", (), None, ReportOptions(budgets={"default": Decimal(10)},
                                                                        rent_vs_buy=False), FixedClock())
    assert not any("project 'default'" in w for w in budgeted.warnings)


def test_the_focus_export_splits_a_run_at_midnight_to_the_cent_and_adds_up(ledger_where, capsys, monkeypatch):
    from remote_jobs.reporting.to_focus import FOCUS_COLUMNS, to_focus

    start = datetime(2026, 10, 31, 20, 0, tzinfo=timezone.utc)  # 60 h of 8×H100 from 31 October 20:00
    long_run = _run("big-20261031-200000-0001", gpus=8, gpu="H100", price_usd_per_hour=Decimal("23.95"),
                    created_at=start, started_at=start, ended_at=start + timedelta(hours=60),
                    torn_down_at=start + timedelta(hours=60), state=RunState.SUCCEEDED, running_s=216000.0,
                    actual_usd=Decimal("1437.000000"))
    rows = list(csv.DictReader(io.StringIO(to_focus(build_report([long_run], "2026-10", (), None, NO_PAYBACK,
                                                                  FixedClock())))))
    assert list(rows[0]) == list(FOCUS_COLUMNS)
    assert [(r["ChargePeriodStart"][:10], r["BilledCost"]) for r in rows] == [
        ("2026-10-31", "95.80"), ("2026-11-01", "574.80"), ("2026-11-02", "574.80"), ("2026-11-03", "191.60")]
    assert sum(Decimal(r["EffectiveCost"]) for r in rows) == Decimal("1437.00")
    assert json.loads(rows[0]["Tags"])["project"] == "support" and rows[0]["ResourceId"] == long_run.run_id
    write_ledger(ledger_where, seed_records(320))
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    code, out, err = run_cli(capsys, "report", "--format", "focus", "--ledger", ledger_where)
    assert code == 0, err
    focus = sum(Decimal(r["EffectiveCost"]) for r in csv.DictReader(io.StringIO(out)))
    code, out, _ = run_cli(capsys, "report", "--format", "json", "--ledger", ledger_where)
    assert focus == Decimal(json.loads(out)["total"]["cost_usd"])
