"""The report model on a seeded ledger: periods, totals that reconcile with the ledger to the cent, grouping
and filters, waste, unit costs, estimate accuracy, budgets at their thresholds, rent vs buy from history,
empty periods, and ledgers written by another schema version."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from planner.errors import BadInput
from providers.types import RunState
from remote_jobs.ledger import MIGRATIONS, Ledger
from remote_jobs.records import RunRecord
from remote_jobs.reporting import Filters, ReportOptions, build_report, month_period, parse_period
from remote_jobs.reporting.text import parse_usd
from remote_jobs.reporting.to_csv import to_csv
from remote_jobs.reporting.to_json import to_json
from remote_jobs.reporting.to_table import tables
from tests.pg import BACKENDS, ledger_at
from tests.ledger_seed import NOW, FixedClock, ledger_spend, seed_records, write_ledger

NO_PAYBACK = ReportOptions(rent_vs_buy=False)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request, tmp_path_factory):
    """The seeded ledger on each backend: a SQLite file, and a schema of the PostgreSQL test server."""
    with ledger_at(request.param, tmp_path_factory.mktemp("seed")) as where:
        yield write_ledger(where, seed_records(320))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# --- periods -----------------------------------------------------------------------------------------------
def test_periods_from_flags():
    assert parse_period(NOW).label == "2026-11", "no flag: the clock's month, not today's"
    q = parse_period(NOW, quarter="2026-Q3")
    assert (q.start, q.end, q.label) == (utc(2026, 7, 1), utc(2026, 10, 1), "2026-Q3")
    assert parse_period(NOW, quarter="Q1").label == "2026-Q1" and parse_period(NOW, quarter="q4-2025").label == "2025-Q4"
    span = parse_period(NOW, date_from="2026-09-15", date_to="2026-10-03")
    assert (span.start, span.end) == (utc(2026, 9, 15), utc(2026, 10, 4)), "--to includes its whole day"
    assert parse_period(NOW, date_from="2026-02", date_to="2026-03").end == utc(2026, 4, 1)
    assert [m for m, _ in span.month_fractions()] == ["2026-09", "2026-10"]
    with pytest.raises(BadInput, match="not --month and --quarter"):
        parse_period(NOW, month="2026-11", quarter="Q3")
    for bad in ({"month": "2026-13"}, {"quarter": "2026-Q5"}, {"date_from": "15/09/2026"}):
        with pytest.raises(BadInput):
            parse_period(NOW, **bad)
    with pytest.raises(BadInput, match="--to must come after"):
        parse_period(NOW, date_from="2026-10-01", date_to="2026-09-01")


# --- totals reconcile with the ledger ------------------------------------------------------------------------
def test_totals_reconcile_with_the_ledger_to_the_cent(seeded):
    for label in ("2026-11", "2026-01", "2025-10"):
        period = month_period(label)
        report = build_report(Ledger(seeded), period, ("project", "owner"), None, NO_PAYBACK, FixedClock())
        spend = ledger_spend(seeded, period.start, period.end)
        assert report.total.runs == spend.runs and spend.matches(report.total.cost_usd), (report.total, spend)
        expected = report.total.cost_usd
        assert sum(line.cost_usd or 0 for line in report.lines) == expected
        assert sum(g.totals.cost_usd for g in report.groups) == expected
        for name, groups in report.breakdowns.items():
            assert sum(g.totals.cost_usd for g in groups) == expected, name
            assert sum(g.totals.waste_usd for g in groups) == report.total.waste_usd, name
        t = report.total
        idle_of_kept = sum((line.idle_usd for line in report.lines if not line.wasted), Decimal(0))
        assert t.waste_usd == t.failed_usd + t.provisioning_usd + idle_of_kept, "idle counted once"
        assert t.cost_usd == t.recorded_usd + t.idle_usd + t.billed_delta_usd + _unrecorded_billed(report)


def _unrecorded_billed(report) -> Decimal:
    return sum((line.billed_usd for line in report.lines if line.billed_usd is not None and line.recorded_usd is None),
               Decimal(0))


def test_the_trend_covers_twelve_months_each_reconciled(seeded):
    report = build_report(Ledger(seeded), "2026-11", (), None, NO_PAYBACK, FixedClock())
    assert [m.month for m in report.trend][0] == "2025-12" and report.trend[-1].month == "2026-11"
    for month in report.trend:
        period = month_period(month.month)
        assert ledger_spend(seeded, period.start, period.end).matches(month.totals.cost_usd), month.month
    assert report.trend[-1].totals == report.total


def test_csv_and_json_reconcile_with_the_ledger(seeded):
    period = parse_period(NOW, quarter="2026-Q3")
    report = build_report(Ledger(seeded), period, ("provider",), None, NO_PAYBACK, FixedClock())
    spend, expected = ledger_spend(seeded, period.start, period.end), report.total.cost_usd
    assert spend.matches(expected)
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len({r["run_id"] for r in rows}) == spend.runs and sum(Decimal(r["cost_usd"] or 0) for r in rows) == expected
    assert len(rows) == len(report.lines)
    assert all(r["cost_usd"] == "" or len(r["cost_usd"].split(".")[1]) == 4 for r in rows), "hundredths of a cent"
    data = json.loads(json.dumps(to_json(report)))
    assert Decimal(data["total"]["cost_usd"]) == expected
    assert sum(Decimal(r["cost_usd"] or 0) for r in data["runs"]) == expected
    assert sum(Decimal(g["cost_usd"]) for g in data["groups"]) == expected
    assert sum(Decimal(m["cost_usd"]) for m in data["trend"][-3:]) == expected, "the quarter's three months"
    assert data["month"] is None and data["period"] == {"label": "2026-Q3", "start": "2026-07-01T00:00:00.000+00:00",
                              "end": "2026-10-01T00:00:00.000+00:00"}


def test_the_text_tables_reconcile(seeded):
    report = build_report(Ledger(seeded), "2026-11", ("gpu",), None, NO_PAYBACK, FixedClock())
    by_key = {t.key: t for t in tables(report)}
    runs, groups = by_key["runs"], by_key["groups"]
    cost = runs.columns.index("cost")
    lines_sum = sum(parse_usd(row[cost]) for row in runs.rows if row[cost] != "-")
    assert lines_sum == parse_usd(runs.total[cost]) == report.total.cost_usd
    assert ledger_spend(seeded, *_month("2026-11")).matches(lines_sum)
    gcost = groups.columns.index("cost")
    assert sum(parse_usd(row[gcost]) for row in groups.rows) == parse_usd(groups.total[gcost])


def _month(label: str):
    period = month_period(label)
    return period.start, period.end


# --- grouping and filters ------------------------------------------------------------------------------------
def test_grouping_by_several_dimensions_and_filters(seeded):
    filters = Filters(provider=("runpod", "modal"), state=("succeeded", "failed"))
    report = build_report(Ledger(seeded), parse_period(NOW, date_from="2026-01-01", date_to="2026-06-30"),
                          ["project", "provider"], filters, NO_PAYBACK, FixedClock())
    assert report.lines and all(line.record.provider in ("runpod", "modal") for line in report.lines)
    assert {line.record.state for line in report.lines} <= {RunState.SUCCEEDED, RunState.FAILED}
    assert all(len(g.key) == 2 and g.key[1] in ("runpod", "modal") for g in report.groups)
    assert sum(g.totals.runs for g in report.groups) == report.total.runs
    with pytest.raises(BadInput, match="did you mean 'owner'"):
        build_report(Ledger(seeded), "2026-11", ["ownr"], None, NO_PAYBACK, FixedClock())
    with pytest.raises(BadInput, match="did you mean 'failed'"):
        Filters(state=("faild",))


# --- hand-made runs: waste, units, committed, accuracy ---------------------------------------------------------
def run(run_id: str, **fields) -> RunRecord:
    base = dict(name="job", project="p", owner="alice", provider="runpod", cloud="runpod", gpu="H100", gpus=1,
                price_usd_per_hour=Decimal("4.00"), price_source="test", price_as_of="2026-11-01",
                created_at=utc(2026, 11, 10), started_at=utc(2026, 11, 10), state=RunState.SUCCEEDED)
    base.update(fields)
    if base["state"].terminal and "ended_at" not in fields:
        base["ended_at"] = base["created_at"] + timedelta(hours=1)
    return RunRecord(run_id=run_id, **base)


def test_waste_units_committed_and_accuracy_on_known_runs():
    records = [
        run("a", provisioning_s=900.0, running_s=2700.0, actual_usd=Decimal("4.00"), estimate_usd=Decimal("5.00"),
            estimate_hours=1.25, tokens=2_000_000, torn_down_at=utc(2026, 11, 10, 1, 30)),
        run("b", gpus=2, provisioning_s=0.0, running_s=3600.0, actual_usd=Decimal("4.00"),
            billed_usd=Decimal("4.404"), estimate_usd=Decimal("4.00"), estimate_hours=1.0),
        run("c", state=RunState.FAILED, provisioning_s=300.0, running_s=450.0, actual_usd=Decimal("0.833333"),
            estimate_usd=Decimal("4.00"), failure_reason="oom"),
        run("d", state=RunState.RUNNING, created_at=utc(2026, 11, 26, 11), started_at=utc(2026, 11, 26, 11),
            estimate_hours=3.0, estimate_usd=Decimal("12.00")),
    ]
    report = build_report(records, "2026-11", (), None, NO_PAYBACK, FixedClock())
    a, b, c, d = report.lines
    assert (a.provisioning_usd, a.idle_usd, a.waste_usd) == (Decimal("1.00"), Decimal("2.00"), Decimal("3.00"))
    assert a.cost_usd == Decimal("6.00"), "an unbilled machine's idle half hour is cost: $4.00 + $2.00"
    assert b.billed_usd == Decimal("4.404") and b.billed_delta_usd == Decimal("0.404") and b.gpu_hours == 2.0
    assert b.cost_usd == Decimal("4.404"), "the bill already holds any idle time: counted once"
    assert c.cost_usd == Decimal("0.8333") and c.waste_usd == Decimal("0.8333")
    assert d.cost_usd is None and d.committed_usd == Decimal("12.00"), "running: its rate until its estimated end"
    t = report.total
    assert (t.cost_usd, t.failed_usd, t.failed_runs, t.committed_usd) == (
        Decimal("11.2373"), Decimal("0.8333"), 1, Decimal("12.00"))
    assert t.waste_usd == Decimal("3.8333") and t.unfinished == 1
    units = {(u.provider, u.gpu): u for u in report.units.by_provider_gpu}
    assert units["runpod", "H100"].usd_per_gpu_hour == Decimal("3.5026"), "$11.2373 over 1 + 2 + 0.2083 GPU-hours"
    assert report.units.usd_per_million_tokens == Decimal("3.00") and report.units.usd_per_run == Decimal("3.7458")
    acc = report.accuracy
    assert acc.runs == 2 and acc.estimate_usd == Decimal("9.00") and acc.actual_usd == Decimal("10.404")
    assert acc.usd_error_pct == 15.6 and acc.usd_median_abs_error_pct == round((20.0 + 10.1) / 2, 1)
    assert acc.usd_within_pct == 100.0


# --- budgets ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("spent", "committed_hours", "level"), [
    ("79.99", 0, "ok"), ("80.00", 0, "warn"), ("99.99", 0, "warn"), ("100.00", 0, "over"), ("76.00", 1.0, "warn"),
    ("96.00", 1.0, "over"),
])
def test_budgets_warn_at_80_and_100_percent(spent, committed_hours, level):
    records = [run("spent", project="support", actual_usd=Decimal(spent)),
               run("other", project="search", actual_usd=Decimal("500"))]
    if committed_hours:
        records.append(run("open", project="support", state=RunState.RUNNING, created_at=NOW, started_at=NOW,
                           estimate_hours=committed_hours))
    options = ReportOptions(budgets={"support": Decimal(100)}, rent_vs_buy=False)
    report = build_report(records, "2026-11", (), None, options, FixedClock())
    (line,) = report.budgets
    assert line.level == level and line.spent_usd == Decimal(spent)
    assert line.remaining_usd == Decimal(100) - line.spent_usd - line.committed_usd
    assert (report.warnings != []) == (level != "ok")
    if level != "ok":
        assert report.warnings[0].startswith("support: ") and ("over budget" in report.warnings[0]) == (level == "over")


def test_budgets_follow_the_period_and_the_settings():
    from providers.settings import Settings

    settings = Settings(budgets={"monthly_usd": {"p": 100}, "warn_pct": 50})
    records = [run("x", actual_usd=Decimal("160.00"))]
    quarter = parse_period(NOW, quarter="2026-Q4")
    (line,) = build_report(records, quarter, (), None, settings, FixedClock()).budgets
    assert line.budget_usd == Decimal("300.00") and line.level == "warn", "three months' budget, warned at 50 %"
    (half,) = build_report(records, parse_period(NOW, date_from="2026-11-01", date_to="2026-11-15"), (), None,
                           settings, FixedClock()).budgets
    assert half.budget_usd == Decimal("50.00") and half.level == "over"


# --- empty periods and other schema versions ---------------------------------------------------------------------
def test_an_empty_period_is_an_empty_report_with_a_clear_line(seeded):
    report = build_report(Ledger(seeded), "2024-01", (), Filters(project=("support",)), NO_PAYBACK, FixedClock())
    assert report.empty and report.total.runs == 0 and report.total.cost_usd == Decimal("0.00")
    assert report.notes == ["no runs in 2024-01 matching project support: nothing was spent"]
    assert to_csv(report).count("\n") == 1 and json.loads(json.dumps(to_json(report)))["runs"] == []


def test_a_ledger_of_the_older_schema_still_reports(tmp_path):
    records = seed_records(120, seed=3)
    old = write_ledger(tmp_path / "v1.sqlite3", records, schema=MIGRATIONS[:1])
    assert sqlite3.connect(old).execute("PRAGMA user_version").fetchone()[0] == 1
    current = write_ledger(tmp_path / "current.sqlite3", records)
    old_report = build_report(Ledger(old), "2026-10", ("project",), None, NO_PAYBACK, FixedClock())
    new_report = build_report(Ledger(current), "2026-10", ("project",), None, NO_PAYBACK, FixedClock())
    assert old_report.total.runs > 0 and old_report.total == new_report.total and old_report.groups == new_report.groups


def test_a_ledger_from_a_newer_tuneplan_is_read(tmp_path):
    path = write_ledger(tmp_path / "newer.sqlite3", seed_records(60, seed=5))
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE runs ADD COLUMN carbon_g INTEGER")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.commit()
    conn.close()
    report = build_report(Ledger(path), parse_period(NOW, date_from="2025-10-01"), (), None, NO_PAYBACK, FixedClock())
    assert report.total.runs == 60 and ledger_spend(path, report.period.start, report.period.end).matches(
        report.total.cost_usd)


# --- rent vs buy from history -----------------------------------------------------------------------------------
def test_rent_vs_buy_uses_the_last_three_months_of_rented_gpu_hours(seeded):
    report = build_report(Ledger(seeded), "2026-11", (), None, ReportOptions(), FixedClock())
    assert report.payback_window == "2026-08 to 2026-10", "the three whole months before this one"
    window = [line for line in build_report(Ledger(seeded), parse_period(NOW, date_from="2026-08", date_to="2026-10"),
                                            (), None, NO_PAYBACK, FixedClock()).lines
              if line.record.provider != "local" and line.gpu_hours]
    rented_per_month = round(sum(line.gpu_hours for line in window) / 3, 2)
    by_gpu = {p.gpu: p for p in report.paybacks}
    assert set(by_gpu) == {"RTX4090", "H100"}
    for payback in by_gpu.values():
        assert payback.rented_gpu_hours_per_month == rented_per_month
        assert payback.rent_price_as_of and payback.purchase_source and payback.verdict
    assert by_gpu["H100"].owned_hours_per_month < by_gpu["RTX4090"].owned_hours_per_month, "an H100 does more per hour"


def test_heavier_usage_pays_back_sooner():
    def payback(hours_per_day: int):
        start = utc(2026, 8, 1)
        records = [run(f"r{day}-{i}", gpu="RTX4090", created_at=start + timedelta(days=day, hours=i),
                       started_at=start + timedelta(days=day, hours=i), provisioning_s=0.0, running_s=3600.0,
                       actual_usd=Decimal("0.69")) for day in range(92) for i in range(hours_per_day)]
        report = build_report(records, "2026-11", (), None, ReportOptions(payback_gpus=("RTX4090",)), FixedClock())
        return report.paybacks[0]

    light, heavy = payback(2), payback(20)
    assert light.rented_gpu_hours_per_month == pytest.approx(92 * 2 / 3, abs=0.01)
    assert heavy.owned_hours_per_month == pytest.approx(light.owned_hours_per_month * 10, rel=1e-3)
    assert heavy.cards == 1 and heavy.break_even_month is not None
    assert light.break_even_month is None or light.break_even_month > heavy.break_even_month
    assert heavy.verdict == f"an RTX4090 would pay back in {heavy.break_even_month} months"


def test_no_rented_usage_says_so():
    records = [run("local", provider="local", cloud="local", gpu="cpu", gpus=0, created_at=utc(2026, 10, 3),
                   actual_usd=Decimal("0.01"))]
    report = build_report(records, "2026-11", (), None, ReportOptions(), FixedClock())
    assert report.paybacks == [] and "no rented GPU-hours in 2026-08 to 2026-10" in report.notes[-1]
