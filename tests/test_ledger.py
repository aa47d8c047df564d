"""The ledger: schema and migrations, money as micro-dollars, lenient reading, transactions under
concurrency and under kill -9."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from planner.errors import BadInput, NotFound
from providers.types import RunHandle, RunState
from remote_jobs import ledger_schema
from remote_jobs.ledger import MIGRATIONS, Ledger
from remote_jobs.records import RunRecord
from tests.contract.harness import FakeClock
from tests.pg import sql_rows

T0 = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)


def record(run_id: str = "job-20261115-120000-abcd", **fields) -> RunRecord:
    base = dict(name="job", project="p", owner="alice", host="h", task="smoke", method="lora", model="m",
                provider="local", cloud="local", region="local", gpu="cpu", gpus=0,
                price_usd_per_hour=Decimal("0.024"), price_source="electricity", price_as_of="2026-11-15",
                estimate_usd=Decimal("1.234567"), estimate_hours=0.5, created_at=T0)
    return RunRecord(run_id=run_id, **{**base, **fields})


def raw(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_a_new_ledger_is_wal_and_at_the_latest_schema(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3", FakeClock())
    assert ledger.version == len(MIGRATIONS)
    assert raw(ledger.path, "PRAGMA journal_mode")[0][0] == "wal"
    assert raw(ledger.path, "PRAGMA user_version")[0][0] == len(MIGRATIONS)


def test_money_is_stored_as_integer_micro_dollars(ledger_where):
    ledger = Ledger(ledger_where, FakeClock())
    ledger.create(record(actual_usd=Decimal("0.0000125"), billed_usd=Decimal("3.5")))
    row = sql_rows(ledger_where, "SELECT estimate_micro_usd, actual_micro_usd, billed_micro_usd, price_micro_usd_per_hour "
                                  "FROM runs")[0]
    assert row == (1234567, 13, 3500000, 24000) and all(type(v) is int for v in row)
    loaded = ledger.get("job-20261115-120000-abcd")
    assert loaded.estimate_usd == Decimal("1.234567") and loaded.billed_usd == Decimal("3.500000")
    assert loaded.cost_usd == loaded.billed_usd


def test_a_record_round_trips(ledger_where):
    ledger = Ledger(ledger_where, FakeClock())
    handle = RunHandle("local", "job-20261115-120000-abcd", "tp-job", {"workdir": "/x"})
    ledger.create(record(handle=handle, artifacts=[{"path": "a", "bytes": 1, "sha256": "f" * 64}], spot=True))
    loaded = ledger.get("job-20261115-120000-abcd")
    assert loaded.handle == handle and loaded.artifacts[0]["sha256"] == "f" * 64 and loaded.spot is True
    assert loaded.created_at == T0 and loaded.state == RunState.PENDING
    assert json.loads(json.dumps(loaded.to_json()))["estimate_usd"] == "1.234567"


def test_updates_write_events_and_respect_an_outcome(ledger_where):
    clock = FakeClock()
    ledger = Ledger(ledger_where, clock)
    ledger.create(record())
    assert ledger.update("job-20261115-120000-abcd", state=RunState.RUNNING, message="go")
    assert ledger.update("job-20261115-120000-abcd", only_if_open=True, state=RunState.SUCCEEDED, ended_at=T0)
    assert not ledger.update("job-20261115-120000-abcd", only_if_open=True, state=RunState.FAILED, ended_at=T0)
    assert ledger.get("job-20261115-120000-abcd").state == RunState.SUCCEEDED
    assert [e["state"] for e in ledger.events("job-20261115-120000-abcd")] == ["pending", "running", "succeeded"]


def test_forward_migration_keeps_old_rows(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)  # what the first tuneplan wrote: schema 1, no event history
    conn.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    conn.execute("INSERT INTO runs (run_id, name, project, owner, host, provider, state, created_at, "
                 "estimate_micro_usd) VALUES ('job-20261115-120000-abcd', 'job', 'p', 'o', 'h', 'local', "
                 "'succeeded', '2026-11-15T12:00:00+00:00', 1234567)")
    conn.commit()
    conn.close()
    monkeypatch.setattr(ledger_schema, "MIGRATIONS", [*MIGRATIONS, "ALTER TABLE runs ADD COLUMN cost_center TEXT"])
    ledger = Ledger(path, FakeClock())
    assert ledger.version == len(MIGRATIONS) + 1 == raw(path, "PRAGMA user_version")[0][0]
    loaded = ledger.get("job-20261115-120000-abcd")
    assert loaded.estimate_usd == Decimal("1.234567") and loaded.state == RunState.SUCCEEDED
    assert ledger.update(loaded.run_id, message="after the migration", failure_reason="none")
    assert raw(path, "SELECT message FROM run_events") == [("after the migration",)]


def test_a_ledger_from_a_newer_tuneplan_is_read_but_not_written(tmp_path):
    path = tmp_path / "l.sqlite3"
    Ledger(path, FakeClock()).create(record())
    raw_conn = sqlite3.connect(path)
    raw_conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    raw_conn.close()
    ledger = Ledger(path, FakeClock())
    assert ledger.get("job-20261115-120000-abcd") is not None
    with pytest.raises(BadInput, match="newer tuneplan"):
        ledger.update("job-20261115-120000-abcd", state=RunState.FAILED)


def test_stored_records_load_leniently(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3", FakeClock())
    ledger.create(record())
    conn = sqlite3.connect(ledger.path)
    conn.execute("ALTER TABLE runs ADD COLUMN from_the_future TEXT")
    conn.execute("UPDATE runs SET state = 'teleported', actual_micro_usd = 'lots', artifacts = '{not json', "
                 "handle = '[]', created_at = 'yesterday', from_the_future = 'x'")
    conn.commit()
    conn.close()
    loaded = ledger.get("job-20261115-120000-abcd")
    assert loaded.state == RunState.UNKNOWN and loaded.actual_usd is None and loaded.artifacts == []
    assert loaded.handle is None and loaded.created_at is None and loaded.estimate_usd == Decimal("1.234567")


def test_find_by_id_prefix_or_name(ledger_where):
    ledger = Ledger(ledger_where, FakeClock())
    ledger.create(record("job-20261115-120000-aaaa", created_at=T0))
    ledger.create(record("job-20261115-130000-bbbb", created_at=T0 + timedelta(hours=1)))
    ledger.create(record("other-20261115-130000-cccc", name="other"))
    assert ledger.find("job-20261115-12").run_id == "job-20261115-120000-aaaa"
    assert ledger.find("job").run_id == "job-20261115-130000-bbbb", "a job name means its newest run"
    with pytest.raises(BadInput, match="several runs"):
        ledger.find("job-20261115-1")
    with pytest.raises(NotFound, match="did you mean"):
        ledger.find("othr-20261115-130000-cccc")


def test_runs_between_dates(ledger_where):
    ledger = Ledger(ledger_where, FakeClock())
    for day in (1, 15, 30):
        ledger.create(record(f"job-202611{day:02d}-120000-abcd", created_at=T0.replace(day=day)))
    ledger.create(record("job-20261201-000000-abcd", created_at=datetime(2026, 12, 1, tzinfo=timezone.utc)))
    november = ledger.runs(datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert [r.run_id[4:12] for r in november] == ["20261130", "20261115", "20261101"]


def _writer(path: str, worker: int, count: int) -> None:
    ledger = Ledger(Path(path))
    for i in range(count):
        run_id = f"w{worker}-20261115-120000-{i:04x}"
        ledger.create(record(run_id, name=f"w{worker}"))
        ledger.update(run_id, state=RunState.RUNNING)
        ledger.update(run_id, state=RunState.SUCCEEDED, ended_at=T0, actual_usd=Decimal("0.000001") * i)


def test_concurrent_processes_do_not_corrupt_it(tmp_path):
    path = tmp_path / "l.sqlite3"
    Ledger(path)
    workers = [multiprocessing.get_context("spawn").Process(target=_writer, args=(str(path), w, 15)) for w in range(4)]
    for worker in workers:
        worker.start()
    reader = Ledger(path)
    while any(w.is_alive() for w in workers):
        assert all(r.state in (RunState.PENDING, RunState.RUNNING, RunState.SUCCEEDED) for r in reader.runs())
        time.sleep(0.01)
    assert all(w.exitcode == 0 for w in workers)
    runs = reader.runs()
    assert len(runs) == 60 and {r.state for r in runs} == {RunState.SUCCEEDED}
    assert raw(path, "PRAGMA integrity_check")[0][0] == "ok"
    assert raw(path, "SELECT count(*) FROM run_events")[0][0] == 60 * 3


WRITER = """
import sys
from decimal import Decimal
from pathlib import Path
from providers.types import RunState
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord
ledger = Ledger(Path(sys.argv[1]))
i = 0
while True:
    run_id = f"k-20261115-120000-{i % 65536:04x}-{i}"
    ledger.create(RunRecord(run_id=run_id, name="k", project="p", owner="o", host="h", provider="local"))
    ledger.update(run_id, state=RunState.RUNNING, actual_usd=Decimal(i))
    print(i, flush=True)
    i += 1
"""


def test_kill_9_mid_write_leaves_a_consistent_ledger(tmp_path):
    path = tmp_path / "l.sqlite3"
    Ledger(path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    for _ in range(25):
        proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert raw(path, "PRAGMA integrity_check")[0][0] == "ok"
    runs = Ledger(path).runs()
    assert len(runs) >= 25
    for run in runs:  # each row is either just created or fully updated: never half of an update
        assert (run.state, run.actual_usd is None) in ((RunState.PENDING, True), (RunState.RUNNING, False))
