"""Issue 17: one ledger for the whole team on PostgreSQL (the real server on 127.0.0.1:5432, no mock): several
processes on two machines writing at once, migrations racing, team budgets that two launches cannot both
overdraw, moving a laptop's history in, checking a ledger, a finance user's read-only role, a server that
restarts, is not there, or is slow, and passwords that never show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from providers.types import RunState
from remote_jobs.ledger import Ledger
from remote_jobs.ledger_schema import MIGRATIONS
from remote_jobs.records import RunRecord
from tests.cli_inprocess import run_cli
from tests.ledger_seed import FixedClock, ledger_spend, seed_records, write_ledger
from tests.pg import BASE_URL, admin_connect, pg_schema, read_only_role, require_pg, sql_rows

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)

WRITER = """
import os, sys, time
from datetime import datetime, timezone
from decimal import Decimal
from providers.identity import host_id
from providers.types import RunState
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord
where, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ledger = Ledger(where)
while time.time() < go:
    time.sleep(0.005)
for i in range(count):
    run_id = f"{worker}-20261203-120000-{i:04x}"
    ledger.create(RunRecord(run_id=run_id, name=worker, project="p", owner=worker, host=host_id(), provider="local",
                            created_at=datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)))
    ledger.update(run_id, state=RunState.RUNNING)
    ledger.update(run_id, state=RunState.SUCCEEDED, ended_at=datetime.now(timezone.utc),
                  actual_usd=Decimal("0.010001") * (i + 1))
print("done", flush=True)
"""


def _spawn(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def test_four_processes_on_two_machines_lose_and_double_nothing(ledger_where):
    Ledger(ledger_where)
    go = str(time.time() + 1.5)  # every writer starts at the same moment
    procs = [_spawn(WRITER, ledger_where, f"w{n}", "25", go, env={"TUNEPLAN_HOST_ID": f"machine-{n % 2}"})
             for n in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and "done" in out, err[-2000:]
    rows = sql_rows(ledger_where, "SELECT run_id, host, state, actual_micro_usd FROM runs")
    assert len(rows) == 100 == len({r[0] for r in rows})
    assert {r[1] for r in rows} == {"machine-0", "machine-1"} and {r[2] for r in rows} == {"succeeded"}
    events = sql_rows(ledger_where, "SELECT run_id, count(*) FROM run_events GROUP BY run_id")
    assert len(events) == 100 and {n for _, n in events} == {3}, "one event per write, none lost or doubled"
    expected = 4 * sum(10_001 * (i + 1) for i in range(25))
    assert sum(r[3] for r in rows) == expected == sql_rows(ledger_where, "SELECT sum(actual_micro_usd) FROM runs")[0][0]


OPENER = """
import sys, time
from remote_jobs.ledger import Ledger
go = float(sys.argv[2])
while time.time() < go:
    time.sleep(0.002)
print(Ledger(sys.argv[1]).version, flush=True)
"""


def test_migrations_racing_on_a_fresh_schema_apply_once():
    with pg_schema() as (url, schema):
        go = str(time.time() + 1.5)
        procs = [_spawn(OPENER, url, go) for _ in range(4)]
        versions = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            versions.append(int(out.strip()))
        assert versions == [len(MIGRATIONS)] * 4
        assert sql_rows(url, "SELECT version FROM tuneplan_schema") == [(len(MIGRATIONS),)]
        tables = sql_rows(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", (schema,))
        assert sorted(t for (t,) in tables) == ["bill_events", "budgets", "report_firsts", "run_events", "runs",
                                               "tuneplan_schema"]


RACER = """
import sys, time
from datetime import datetime, timezone
from decimal import Decimal
from planner.errors import BadInput
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord
from remote_jobs.team_budgets import budget_guard
where, name, go = sys.argv[1], sys.argv[2], float(sys.argv[3])
ledger = Ledger(where)
record = RunRecord(run_id=f"{name}-20261203-120000-0000", name=name, project="search", owner=name, host=name,
                   provider="runpod", price_usd_per_hour=Decimal("2.40"), estimate_hours=0.5,
                   estimate_usd=Decimal("1.20"), created_at=datetime.now(timezone.utc))
while time.time() < go:
    time.sleep(0.001)
try:
    ledger.create(record, before=budget_guard(ledger, record))
    print("launched", flush=True)
except BadInput as exc:
    print("refused", exc, flush=True)
"""


def test_six_launches_racing_for_a_budget_that_holds_two_start_exactly_two(ledger_where):
    from remote_jobs.team_budgets import set_budget

    set_budget(Ledger(ledger_where), "search", Decimal("3.00"))  # $1.20 each: two fit, a third does not
    go = str(time.time() + 2.0)
    procs = [_spawn(RACER, ledger_where, f"r{n}", go) for n in range(6)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        outcomes.append(out.strip())
    assert sum(o == "launched" for o in outcomes) == 2, outcomes
    refused = [o for o in outcomes if o.startswith("refused")]
    assert len(refused) == 4 and all("$0.60 left" in o and "nothing was started" in o for o in refused), refused
    assert sql_rows(ledger_where, "SELECT count(*) FROM runs")[0][0] == 2


def test_two_cli_launches_race_for_the_last_dollars_and_one_is_refused(ledger_where, tmp_path):
    """The whole CLI path, two machines at once: a budget that holds one smoke run's estimate but not two."""
    env = {"TUNEPLAN_LEDGER_URL": ledger_where} if ledger_where.startswith("postgresql") else \
        {"TUNEPLAN_LEDGER": ledger_where}
    setup = subprocess.run([str(ROOT / ".venv/bin/tuneplan"), "budget", "set", "examples", "0.00004"], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert setup.returncode == 0, setup.stderr
    procs = []
    for n in range(2):
        home = tmp_path / f"home-{n}"
        home.mkdir()
        procs.append(subprocess.Popen(
            [str(ROOT / ".venv/bin/tuneplan"), "launch", "examples/tiny-smoke.yaml", "--yes"], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **env, "HOME": str(home), "TUNEPLAN_DATA_DIR": str(home / "data"),
                 "TUNEPLAN_HOST_ID": f"machine-{n}"}))
    results = [(p.wait(timeout=240), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, _, err in results if code == 2)
    assert "budget" in refused and "nothing was started" in refused and "Traceback" not in refused
    assert len(refused.strip().splitlines()) == 1
    assert sql_rows(ledger_where, "SELECT count(*) FROM runs")[0][0] == 1
    loser = next(n for n, (code, _, _) in enumerate(results) if code == 2)
    runs_dir = tmp_path / f"home-{loser}" / "data" / "runs"
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), "a refused launch leaves no run folder"


def test_a_laptop_history_moves_into_the_team_ledger_once(tmp_path, capsys):
    laptop = write_ledger(tmp_path / "laptop.sqlite3", seed_records(120, seed=3))
    book = Ledger(laptop, FixedClock())
    book.update(book.runs()[0].run_id, message="a note that travels")
    from remote_jobs.team_budgets import set_budget

    set_budget(book, "support", Decimal("500"))
    with pg_schema() as (url, _):
        code, out, err = run_cli(capsys, "ledger", "copy", "--to", url, "--ledger", str(laptop), "--json")
        assert code == 0, err
        first = json.loads(out)
        assert (first["runs_copied"], first["runs_already_there"], first["budgets_copied"]) == (120, 0, 1)
        assert first["events_copied"] == 1
        code, out, _ = run_cli(capsys, "ledger", "copy", "--to", url, "--ledger", str(laptop), "--json")
        again = json.loads(out)
        assert (again["runs_copied"], again["runs_already_there"], again["events_copied"]) == (0, 120, 0)
        assert sql_rows(url, "SELECT count(*) FROM runs")[0][0] == 120
        since, until = datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc)
        assert ledger_spend(url, since, until) == ledger_spend(laptop, since, until)
        totals = []
        for where in (str(laptop), url):
            code, out, err = run_cli(capsys, "report", "--from", "2025-01-01", "--to", "2026-12-31", "--format",
                                     "json", "--ledger", where)
            assert code == 0, err
            totals.append(Decimal(json.loads(out)["total"]["cost_usd"]))
        assert totals[0] == totals[1] and ledger_spend(laptop, since, until).matches(totals[0])


def test_ledger_check_finds_damage_and_says_how_to_recover(tmp_path, capsys):
    sound = write_ledger(tmp_path / "sound.sqlite3", seed_records(30, seed=2))
    code, out, _ = run_cli(capsys, "ledger", "check", "--ledger", str(sound))
    assert code == 0 and "sound (30 runs" in out
    import sqlite3

    conn = sqlite3.connect(sound)
    conn.execute("UPDATE runs SET actual_micro_usd = 'lots' WHERE rowid = 1")
    conn.execute("INSERT INTO run_events (run_id, at, state, message) VALUES ('ghost', 'x', NULL, '')")
    conn.commit()
    conn.close()
    code, out, _ = run_cli(capsys, "ledger", "check", "--ledger", str(sound))
    assert code == 1 and "not whole micro-dollars" in out and "ghost" in out and "to recover" not in out
    damaged = tmp_path / "damaged.sqlite3"
    data = bytearray(Path(write_ledger(damaged, seed_records(200, seed=4))).read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a torn page
    damaged.write_bytes(bytes(data))
    code, out, err = run_cli(capsys, "ledger", "check", "--ledger", str(damaged))
    assert code in (1, 2) and ".recover" in out + err and "Traceback" not in out + err


@pytest.fixture
def finance_role():
    """A read-only role on a seeded team ledger: (its URL, the writer's URL)."""
    with read_only_role(lambda url: write_ledger(url, seed_records(200, seed=9))) as urls:
        yield urls


def test_a_finance_role_reads_every_report_and_cannot_write(finance_role, capsys, monkeypatch, tmp_path):
    finance, writer = finance_role
    monkeypatch.setenv("TUNEPLAN_LEDGER_URL", finance)
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    monkeypatch.chdir(tmp_path)
    for fmt in ("table", "json", "csv", "html", "xlsx"):
        code, _, err = run_cli(capsys, "report", "--month", "2026-11", "--format", fmt)
        assert code == 0, (fmt, err)
    code, out, _ = run_cli(capsys, "report", "--month", "2026-11", "--format", "json")
    since, until = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert ledger_spend(writer, since, until).matches(Decimal(json.loads(out)["total"]["cost_usd"]))
    code, out, err = run_cli(capsys, "jobs", "--no-refresh", "--json")
    assert code == 0, err
    code, _, err = run_cli(capsys, "budget", "set", "support", "100")
    assert code == 2 and "can read the ledger but not change it" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--yes")
    assert code == 2 and "not change it" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sql_rows(writer, "SELECT count(*) FROM runs")[0][0] == 200


def test_an_unreachable_server_at_launch_starts_nothing(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TUNEPLAN_LEDGER_URL", "postgresql://postgres:s3cret-pw@127.0.0.1:9/test")
    code, out, err = run_cli(capsys, "launch", "examples/tiny-smoke.yaml", "--yes")
    assert code == 2 and "cannot reach the team ledger" in err and len(err.strip().splitlines()) == 1
    assert "s3cret-pw" not in out + err and "postgres:***@127.0.0.1:9" in err
    runs = Path(os.environ["TUNEPLAN_DATA_DIR"]) / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_a_slow_query_stops_at_the_statement_timeout(capsys, monkeypatch):
    """PostgreSQL's statement_timeout (SQLite's busy timeout is tested in test_ledger.py)."""
    import psycopg

    with pg_schema() as (url, _):
        Ledger(url)
        monkeypatch.setenv("TUNEPLAN_LEDGER_URL", url)
        monkeypatch.setenv("TUNEPLAN_LEDGER_STATEMENT_TIMEOUT_S", "1")
        with psycopg.connect(url) as holder:  # a long transaction holding the runs table
            holder.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            code, _, err = run_cli(capsys, "jobs", "--no-refresh")
            waited = time.monotonic() - started
    assert code == 2 and "statement timeout" in err and len(err.strip().splitlines()) == 1
    assert waited < 20


@pytest.fixture
def own_database():
    """A database of its own (the restart test refuses and drops every connection to it)."""
    import secrets

    require_pg()
    name = f"tp_restart_{secrets.token_hex(4)}"
    with admin_connect() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = BASE_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}", name
    finally:
        with admin_connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _outage(name: str, seconds: float) -> None:
    """What a restart looks like from a client: every connection dropped, new ones refused, then back."""
    with admin_connect() as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                     "pg_backend_pid()", (name,))
    time.sleep(seconds)
    with admin_connect() as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


def test_a_write_during_a_server_restart_lands_when_it_is_back(own_database, monkeypatch):
    url, name = own_database
    monkeypatch.setenv("TUNEPLAN_LEDGER_RETRY_S", "60")
    ledger = Ledger(url, FixedClock(T0))
    ledger.create(RunRecord(run_id="r-20261203-120000-0001", name="r", project="p", owner="o", host="h",
                            provider="local", created_at=T0))
    ledger.update("r-20261203-120000-0001", state=RunState.RUNNING)
    outage = threading.Thread(target=_outage, args=(name, 3.0))
    outage.start()
    time.sleep(0.5)  # the server is "down" now
    started = time.monotonic()
    assert ledger.update("r-20261203-120000-0001", state=RunState.SUCCEEDED, ended_at=T0, actual_usd=Decimal("1.5"))
    waited = time.monotonic() - started
    outage.join()
    assert waited >= 1.5, "the write waited for the server"
    record = ledger.get("r-20261203-120000-0001")
    assert record.state == RunState.SUCCEEDED and record.actual_usd == Decimal("1.500000")
    assert [e["state"] for e in ledger.events(record.run_id)] == ["pending", "running", "succeeded"]


def test_a_local_run_goes_on_through_a_restart_and_its_end_is_recorded(own_database, tmp_path):
    """A real launch (the local provider, the smoke job) whose team ledger restarts while the job runs."""
    url, name = own_database
    Ledger(url)
    env = {**os.environ, "TUNEPLAN_LEDGER_URL": url, "HOME": str(tmp_path), "TUNEPLAN_DATA_DIR": str(tmp_path / "d"),
           "TUNEPLAN_LEDGER_RETRY_S": "120"}
    spec = tmp_path / "slow-smoke.yaml"
    text = (ROOT / "examples" / "tiny-smoke.yaml").read_text().replace("step_seconds: 0.2", "step_seconds: 0.6")
    spec.write_text(text.replace("data/tiny-chat.jsonl", str(ROOT / "examples" / "data" / "tiny-chat.jsonl")))
    launch = subprocess.Popen([str(ROOT / ".venv/bin/tuneplan"), "launch", str(spec), "--yes"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the run is recorded as running
        if sql_rows(url, "SELECT count(*) FROM runs WHERE state = 'running'")[0][0]:
            break
        time.sleep(0.2)
    _outage(name, 4.0)
    out, err = launch.communicate(timeout=240)
    assert launch.returncode == 0, (out[-1500:], err[-1500:])
    rows = sql_rows(url, "SELECT state, actual_micro_usd FROM runs")
    assert len(rows) == 1 and rows[0][0] == "succeeded" and rows[0][1] is not None


def test_team_budgets_show_in_the_report_and_in_budget_list(ledger_where, capsys, monkeypatch):
    write_ledger(ledger_where, seed_records(320))
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    from remote_jobs.reporting import build_report

    spent = sum((line.cost_usd or 0 for line in build_report(Ledger(ledger_where), "2026-11", (), None, None,
                                                               FixedClock()).lines if line.record.project == "search"),
                Decimal(0))
    code, _, err = run_cli(capsys, "budget", "set", "search", f"{spent / Decimal('0.9'):.2f}", "--ledger", ledger_where)
    assert code == 0, err
    code, _, err = run_cli(capsys, "budget", "set", "search", "1", "--owner", "carol", "--month", "2026-11",
                           "--ledger", ledger_where)
    assert code == 0, err
    code, out, err = run_cli(capsys, "report", "--month", "2026-11", "--no-lines", "--ledger", ledger_where)
    assert code == 0, err
    assert "warning: search: 90.0 % of its" in " ".join(out.split())
    code, out, _ = run_cli(capsys, "budget", "list", "--month", "2026-11", "--json", "--ledger", ledger_where)
    listed = {(b["project"], b["owner"]): b for b in json.loads(out)}
    runs = len([line for line in build_report(Ledger(ledger_where), "2026-11", (), None, None, FixedClock()).lines
                if line.record.project == "search"])
    listed_spent = Decimal(listed[("search", "*")]["spent_usd"])
    assert abs(listed_spent - spent) <= Decimal("0.0001") * runs, "budget list counts as the report counts"
    assert Decimal(listed[("search", "carol")]["limit_usd"]) == 1
    code, _, err = run_cli(capsys, "budget", "set", "search", "1", "--month", "Nov", "--ledger", ledger_where)
    assert code == 2 and "--month is YYYY-MM" in err
    code, _, err = run_cli(capsys, "budget", "rm", "search", "--owner", "dave", "--ledger", ledger_where)
    assert code == 2 and "no budget" in err
