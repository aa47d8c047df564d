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
from remote_jobs.reporting.period import parse_period
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
        for name in ("estimate", "cost", "vs est.", "billed", "waste"):  # the total row adds up the cells above it
            index = table.columns.index(name)
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
    assert "after 20.0 h against an estimate of 12 min" in alert and "$46.0000 accrued" in alert
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
    assert any("project 'default'" in w and "$3.6000" in w and "no budget" in w for w in report.warnings)
    budgeted = build_report([stray], "2026-11", (), None, ReportOptions(budgets={"default": Decimal(10)},
                                                                        rent_vs_buy=False), FixedClock())
    assert not any("project 'default'" in w for w in budgeted.warnings)


def _long_run() -> RunRecord:
    """The issue's run: 60 h of 8×H100 from 31 October 20:00 UTC, $1,437.00 at $23.95/h."""
    start = datetime(2026, 10, 31, 20, 0, tzinfo=timezone.utc)
    return _run("big-20261031-200000-0001", gpus=8, gpu="H100", price_usd_per_hour=Decimal("23.95"),
                created_at=start, started_at=start, ended_at=start + timedelta(hours=60),
                torn_down_at=start + timedelta(hours=60), state=RunState.SUCCEEDED, provisioning_s=0.0,
                running_s=216000.0, actual_usd=Decimal("1437.000000"), estimate_usd=Decimal("1400"),
                estimate_hours=58.0)


def test_a_run_across_a_month_boundary_is_spent_in_both_months_to_the_cent():
    october, november = (build_report([_long_run()], month, (), None, NO_PAYBACK, FixedClock())
                         for month in ("2026-10", "2026-11"))
    assert october.total.cost_usd == Decimal("95.80"), "4 of its 60 hours were in October"
    assert november.total.cost_usd == Decimal("1341.20"), "56 hours in November"
    assert october.total.cost_usd + november.total.cost_usd == Decimal("1437.00")
    assert (october.total.gpu_hours, november.total.gpu_hours) == (32.0, 448.0)
    assert october.total.runs == november.total.runs == 1
    (line,) = november.lines
    assert line.final and line.delta_usd == Decimal("37.00"), "compared whole, in the month it finished in"
    assert october.lines[0].delta_usd is None and october.total.estimate_usd == 0
    quarter = build_report([_long_run()], parse_period(NOW, quarter="2026-Q4"), ("month",), None, NO_PAYBACK,
                           FixedClock())
    assert [(g.key, g.totals.cost_usd) for g in quarter.groups] == [(("2026-10",), Decimal("95.80")),
                                                                   (("2026-11",), Decimal("1341.20"))]
    assert quarter.total.runs == 1 and quarter.total.cost_usd == Decimal("1437.00")
    assert [m.totals.cost_usd for m in quarter.trend[-3:]] == [Decimal("95.80"), Decimal("1341.20"), Decimal(0)]


def test_an_open_run_commits_to_the_months_it_will_run_in():
    start = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    open_run = _run("open-20261126-100000-0001", state=RunState.RUNNING, created_at=start, started_at=start,
                    price_usd_per_hour=Decimal("10"), estimate_hours=134.0)  # to 2 December 00:00
    budgets = ReportOptions(budgets={"support": Decimal(1000)}, rent_vs_buy=False)
    november = build_report([open_run], "2026-11", (), None, budgets, FixedClock())
    assert november.total.committed_usd == Decimal("1100.00"), "110 of its 134 hours are in November"
    assert november.budgets[0].level == "over"
    clock = FixedClock(datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))
    before_end = build_report([_run("late-20261130-000000-0001", state=RunState.RUNNING,
                                    created_at=datetime(2026, 11, 30, 12, tzinfo=timezone.utc),
                                    started_at=datetime(2026, 11, 30, 12, tzinfo=timezone.utc),
                                    price_usd_per_hour=Decimal("10"), estimate_hours=36.0)], "2026-11", (), None,
                              budgets, clock)
    assert before_end.total.committed_usd == Decimal("120.00"), "12 of its 36 hours fall in November"
    assert before_end.budgets[0].committed_usd == Decimal("120.00")


def test_idle_time_is_cost_once():
    start = datetime(2026, 11, 10, 8, 0, tzinfo=timezone.utc)
    base = dict(created_at=start, started_at=start, ended_at=start + timedelta(hours=1), state=RunState.SUCCEEDED,
                torn_down_at=start + timedelta(hours=2), price_usd_per_hour=Decimal("3.00"), provisioning_s=0.0,
                running_s=3600.0, actual_usd=Decimal("3.00"))
    unbilled = _run("u-20261110-080000-0001", **base)
    billed = _run("b-20261110-080000-0002", **{**base, "billed_usd": Decimal("6.10")})
    report = build_report([unbilled, billed], "2026-11", (), None, NO_PAYBACK, FixedClock())
    u, b = sorted(report.lines, key=lambda line: line.record.run_id, reverse=True)
    assert (u.cost_usd, u.idle_usd, u.waste_usd) == (Decimal("6.00"), Decimal("3.00"), Decimal("3.00"))
    assert (b.cost_usd, b.idle_usd, b.billed_delta_usd) == (Decimal("6.10"), Decimal("3.00"), Decimal("0.10"))
    assert report.total.cost_usd == Decimal("12.10"), "the bill holds its idle hour already: not added again"
    assert report.total.waste_usd == Decimal("6.00")


def test_small_runs_are_not_rounded_away():
    start = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
    tiny = [_run(f"cpu-20261103-0900{i:02d}-{i:04x}", provider="local", gpu="cpu", gpus=0, created_at=start,
                 started_at=start, ended_at=start + timedelta(seconds=360), state=RunState.SUCCEEDED,
                 price_usd_per_hour=Decimal("0.024"), provisioning_s=0.0, running_s=360.0,
                 actual_usd=Decimal("0.0024")) for i in range(200)]
    report = build_report(tiny, "2026-11", (), None, NO_PAYBACK, FixedClock())
    assert all(line.cost_usd == Decimal("0.0024") for line in report.lines)
    assert report.total.cost_usd == Decimal("0.48")
    table = runs_table(report)
    cost = table.columns.index("cost")
    assert table.rows[0][cost] == "$0.0024" and table.total[cost] == "$0.4800"


def test_the_focus_export_splits_a_run_at_midnight_and_adds_up(ledger_where, capsys, monkeypatch):
    from remote_jobs.reporting.to_focus import FOCUS_COLUMNS, to_focus

    long_run = _long_run()
    quarter = build_report([long_run], parse_period(NOW, quarter="2026-Q4"), (), None, NO_PAYBACK, FixedClock())
    rows = list(csv.DictReader(io.StringIO(to_focus(quarter))))
    assert list(rows[0]) == list(FOCUS_COLUMNS)
    assert [(r["ChargePeriodStart"][:10], r["BilledCost"]) for r in rows] == [
        ("2026-10-31", "95.8000"), ("2026-11-01", "574.8000"), ("2026-11-02", "574.8000"), ("2026-11-03", "191.6000")]
    assert sum(Decimal(r["EffectiveCost"]) for r in rows) == Decimal("1437.00") == quarter.total.cost_usd
    assert json.loads(rows[0]["Tags"])["project"] == "support" and rows[0]["ResourceId"] == long_run.run_id
    november = build_report([long_run], "2026-11", (), None, NO_PAYBACK, FixedClock())
    assert [r["ChargePeriodStart"][:10] for r in csv.DictReader(io.StringIO(to_focus(november)))] == [
        "2026-11-01", "2026-11-02", "2026-11-03"], "a month's file holds that month's days"
    write_ledger(ledger_where, seed_records(320))
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    code, out, err = run_cli(capsys, "report", "--format", "focus", "--ledger", ledger_where)
    assert code == 0, err
    focus = sum(Decimal(r["EffectiveCost"]) for r in csv.DictReader(io.StringIO(out)))
    code, out, _ = run_cli(capsys, "report", "--format", "json", "--ledger", ledger_where)
    assert focus == Decimal(json.loads(out)["total"]["cost_usd"])


def test_a_late_bill_in_a_closed_month_leaves_an_audit_trail(ledger_where, capsys, monkeypatch):
    write_ledger(ledger_where, seed_records(320))
    first = build_report(Ledger(ledger_where), "2026-10", (), None, NO_PAYBACK, FixedClock())
    assert first.revision is None, "the first report of a closed month is written down, nothing to compare yet"
    again = build_report(Ledger(ledger_where), "2026-10", (), None, NO_PAYBACK, FixedClock())
    assert again.revision is not None and again.revision.changed_usd == 0 and again.revision.late_bills == []
    assert any("unchanged since its report was first produced" in note for note in again.notes)
    late_clock = FixedClock(NOW + timedelta(days=3))
    book = Ledger(ledger_where, late_clock)
    target = next(line for line in first.lines if line.final and line.billed_usd is None and line.cost_usd
                  and line.run_cost_usd == line.cost_usd)
    book.update(target.record.run_id, billed_usd=target.cost_usd + Decimal("12.34"), bill_final=True,
                message="final bill read from skypilot")
    stored = book.get(target.record.run_id)
    assert stored.bill_final is True and stored.billed_at == NOW + timedelta(days=3)
    later = build_report(Ledger(ledger_where), "2026-10", ("project",), Filters(owner=("nobody",)), NO_PAYBACK,
                         late_clock)
    revision = later.revision
    assert revision.changed_usd == Decimal("12.34") and revision.first_cost_usd == first.total.cost_usd
    (bill,) = revision.late_bills
    assert bill.run_id == target.record.run_id and bill.final and bill.before_usd is None
    note = next(note for note in later.notes if "changed since its report was first produced" in note)
    assert "+$12.34" in note and target.record.run_id in note and "final" in note and "whatever the filters" in note
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-29T12:00:00Z")
    code, out, err = run_cli(capsys, "report", "--month", "2026-10", "--format", "json", "--ledger", ledger_where)
    assert code == 0, err
    data = json.loads(out)
    assert Decimal(data["revision"]["late_bills"][0]["billed_usd"]) == target.cost_usd + Decimal("12.34")
    code, out, err = run_cli(capsys, "report", "--month", "2026-10", "--format", "csv", "--ledger", ledger_where)
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["run_id"] == target.record.run_id)
    assert row["bill_final"] == "yes" and row["billed_at"].startswith("2026-11-29")


def test_tags_group_the_report_and_reach_the_focus_file(tmp_path, capsys):
    runs = [_run(f"t{i}-20261110-120000-000{i}", tags={"cost_center": center}, state=RunState.SUCCEEDED,
                 ended_at=T0 + timedelta(hours=1), provisioning_s=0.0, running_s=3600.0, actual_usd=Decimal(amount))
            for i, (center, amount) in enumerate((("ml-1", "3.00"), ("ml-2", "5.00"), ("ml-1", "1.25")))]
    runs.append(_run("t9-20261110-120000-0009", state=RunState.SUCCEEDED, ended_at=T0 + timedelta(hours=1),
                     provisioning_s=0.0, running_s=3600.0, actual_usd=Decimal("2.00")))
    path = write_ledger(tmp_path / "tags.sqlite3", runs)
    report = build_report(Ledger(path), "2026-11", ("tag:cost_center",), None, NO_PAYBACK, FixedClock())
    assert [(g.key, g.totals.cost_usd) for g in report.groups] == [
        (("-",), Decimal("2.00")), (("ml-1",), Decimal("4.25")), (("ml-2",), Decimal("5.00"))]
    from remote_jobs.reporting.to_focus import to_focus

    tags = [json.loads(r["Tags"]) for r in csv.DictReader(io.StringIO(to_focus(report)))]
    assert sorted(t.get("cost_center", "-") for t in tags) == ["-", "ml-1", "ml-1", "ml-2"]
    code, _, err = run_cli(capsys, "report", "--by", "tag:Cost Center", "--ledger", str(path))
    assert code == 2 and "tag:KEY" in err


def test_tz_moves_the_period_boundaries_and_the_day_cuts(capsys, tmp_path):
    """The 60-hour run from 31 October 20:00 UTC: in Los Angeles (UTC−7 then) it began at 13:00 on 31 October, so
    11 of its hours fall in October there; in Tokyo (UTC+9) it began on 1 November, so none do."""
    from remote_jobs.reporting.period import parse_zone

    for zone, october_hours in (("America/Los_Angeles", 11), ("Asia/Tokyo", 0), ("UTC", 4)):
        tz = parse_zone(zone)
        october = build_report([_long_run()], parse_period(NOW, month="2026-10", tz=tz), (), None, NO_PAYBACK,
                               FixedClock())
        november = build_report([_long_run()], parse_period(NOW, month="2026-11", tz=tz), (), None, NO_PAYBACK,
                                FixedClock())
        assert october.total.cost_usd == Decimal("23.95") * october_hours, zone
        assert october.total.cost_usd + november.total.cost_usd == Decimal("1437.00"), zone
        assert october.title.endswith(f"({'UTC' if zone == 'UTC' else zone})")
    path = write_ledger(tmp_path / "tz.sqlite3", [_long_run()])
    code, out, err = run_cli(capsys, "report", "--month", "2026-10", "--tz", "America/Los_Angeles", "--format", "json",
                             "--ledger", str(path))
    assert code == 0, err
    data = json.loads(out)
    assert data["time_zone"] == "America/Los_Angeles" and Decimal(data["total"]["cost_usd"]) == Decimal("263.45")
    assert data["period"]["start"] == "2026-10-01T07:00:00.000+00:00", "midnight in Los Angeles, written in UTC"
    code, _, err = run_cli(capsys, "report", "--tz", "Europe/Berln", "--ledger", str(path))
    assert code == 2 and "Europe/Berlin" in err
