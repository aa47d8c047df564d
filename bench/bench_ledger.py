"""Benchmark: the ledger on each backend (a SQLite file; PostgreSQL on 127.0.0.1:5432, a fresh schema).

Run: .venv/bin/python bench/bench_ledger.py [--runs 10000] [--repeat 3] [--pg postgresql://postgres@127.0.0.1:5432/test]

Prints, per backend (median of --repeat):
- launch-to-ledger: ``Ledger.create`` of one run with its team-budget check (a budget on the project, a month of
  runs under it), i.e. what a launch waits for between "confirmed" and "the provider is called";
- one state change (``Ledger.update`` with its event), what the watcher writes on each transition;
- opening the ledger (``Ledger(url)``: connect, schema version check);
- a one-month and a 14-month report model over --runs seeded runs, the report's JSON of the 14 months, and the
  FOCUS export (``report --format focus``: one row per run per day) of the 14 months.
The PostgreSQL schema is dropped afterwards. Figures go to stdout as one line each and as JSON at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_report import median_s  # noqa: E402


def measure(where: str, runs: int, repeat: int) -> dict[str, float]:
    from remote_jobs.ledger import Ledger
    from remote_jobs.records import RunRecord
    from remote_jobs.reporting import build_report, parse_period
    from remote_jobs.reporting.to_focus import to_focus
    from remote_jobs.reporting.to_json import to_json
    from remote_jobs.team_budgets import budget_guard, set_budget
    from tests.ledger_seed import NOW, FixedClock, seed_records, write_ledger

    start = time.perf_counter()
    write_ledger(where, seed_records(runs))
    seeded_s = time.perf_counter() - start
    clock = FixedClock()
    ledger = Ledger(where, clock)
    set_budget(ledger, "support", Decimal("1000000"))
    counter = iter(range(1_000_000))

    def launch() -> str:
        n = next(counter)
        record = RunRecord(run_id=f"bench-20261126-120000-{n:06d}", name="bench", project="support", owner="alice",
                           host="bench", provider="runpod", price_usd_per_hour=Decimal("2.40"), estimate_hours=1.0,
                           estimate_usd=Decimal("2.40"), created_at=NOW - timedelta(seconds=n))
        ledger.create(record, before=budget_guard(ledger, record))
        return record.run_id

    from providers.types import RunState

    whole = parse_period(NOW, date_from="2025-10-01", date_to="2026-11-30")
    launched = [launch() for _ in range(3)]  # warm
    results = {
        "seed_s": seeded_s,
        "open_s": median_s(lambda: Ledger(where, clock), repeat * 3),
        "launch_to_ledger_s": median_s(launch, repeat * 5),
        "state_change_s": median_s(lambda: ledger.update(launched[0], state=RunState.RUNNING, message="tick"),
                                   repeat * 5),
        "report_month_s": median_s(lambda: build_report(ledger, "2026-11", ("project",), None, None, clock), repeat),
        "report_14_months_s": median_s(lambda: build_report(ledger, whole, ("project",), None, None, clock), repeat),
        "focus_export_14_months_s": median_s(lambda: to_focus(build_report(ledger, whole, (), None, None, clock)),
                                             repeat),
        "report_14_months_json_s": median_s(
            lambda: json.dumps(to_json(build_report(ledger, whole, ("project", "provider"), None, None, clock))),
            repeat),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    import psycopg

    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        out["sqlite"] = measure(str(Path(tmp) / "ledger.sqlite3"), args.runs, args.repeat)
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        joiner = "&" if "?" in args.pg else "?"
        out["postgresql"] = measure(f"{args.pg}{joiner}options={quote(f'-csearch_path={schema}')}", args.runs,
                                    args.repeat)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    for backend, figures in out.items():
        for name, seconds in figures.items():
            print(f"{backend:10} {name:26} {seconds * 1000:9.1f} ms")
    print(json.dumps({"runs": args.runs, **out}))


if __name__ == "__main__":
    main()
