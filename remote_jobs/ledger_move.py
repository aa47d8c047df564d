"""Moving a ledger's history into another (a laptop's SQLite file into the team's PostgreSQL), and checking one.

Copying is idempotent: run ids are unique, a run already in the target is left as it is, and a run's events
travel only with the run that is new there, so running the copy twice copies nothing twice. Each batch of runs
is one transaction in the target: an interrupted copy leaves whole runs, and the next copy finishes the rest.
Budgets travel too (a budget the target already has is kept).

The check reads the store (SQLite's integrity check) and the content: money that is not whole micro-dollars,
states and times that do not parse, events of runs that do not exist, open runs without a handle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from providers.types import RunState
from remote_jobs.ledger import Ledger
from remote_jobs.records import FIELDS

BATCH = 200
MONEY_COLUMNS = tuple(column for column, kind in FIELDS.values() if kind == "money")
TIME_COLUMNS = tuple(column for column, kind in FIELDS.values() if kind == "time")


@dataclass(frozen=True)
class CopyResult:
    runs_copied: int
    runs_already_there: int
    events_copied: int
    budgets_copied: int


def copy_ledger(source: Ledger, target: Ledger, progress: Callable[[int, int], None] | None = None) -> CopyResult:
    """Every run (with its events) and budget of ``source`` that ``target`` lacks."""
    runs = source.query("SELECT * FROM runs ORDER BY created_at, run_id")
    known = {row["run_id"] for row in target.query("SELECT run_id FROM runs")}
    fresh = [row for row in runs if row["run_id"] not in known]
    copied_runs = copied_events = 0
    columns = [c for c in _columns(target) if c in fresh[0]] if fresh else []  # both sides' columns
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start:start + BATCH]
        events = _events_of(source, [row["run_id"] for row in batch])
        inserted = target.transact(lambda conn, batch=batch, events=events: _insert(conn, columns, batch, events))
        copied_runs += inserted[0]
        copied_events += inserted[1]
        if progress is not None:
            progress(min(start + BATCH, len(fresh)), len(fresh))
    budgets = source.query("SELECT * FROM budgets")
    copied_budgets = target.transact(lambda conn: sum(conn.execute(
        "INSERT INTO budgets (project, owner, month, limit_micro_usd, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (project, owner, month) DO NOTHING",
        (b["project"], b["owner"], b["month"], b["limit_micro_usd"], b.get("updated_at"), b.get("updated_by")),
    ).rowcount for b in budgets)) if budgets else 0
    return CopyResult(copied_runs, len(runs) - copied_runs, copied_events, copied_budgets)


def _columns(ledger: Ledger) -> list[str]:
    """The runs table's columns in ``ledger`` (both backends answer the same probe)."""
    rows = ledger.query("SELECT * FROM runs WHERE 1 = 0")
    if rows:
        return list(rows[0])
    conn = ledger.backend.connect()
    try:
        cursor = conn.execute("SELECT * FROM runs WHERE 1 = 0")
        return [d[0] for d in cursor.description]
    finally:
        conn.close()


def _events_of(source: Ledger, run_ids: list[str]) -> list[dict[str, Any]]:
    """The runs' state events and bill events (a bill event has ``billed_micro_usd``), oldest first."""
    marks = ", ".join("?" * len(run_ids))
    states = source.query(f"SELECT run_id, at, state, message FROM run_events WHERE run_id IN ({marks}) ORDER BY id",
                          tuple(run_ids))
    bills = source.query(f"SELECT run_id, at, billed_micro_usd, final, source FROM bill_events WHERE run_id IN ({marks}) "
                         "ORDER BY id", tuple(run_ids))
    return states + bills


def _insert(conn: Any, columns: list[str], rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> tuple[int, int]:
    names, marks = ", ".join(columns), ", ".join("?" * len(columns))
    new: set[str] = set()
    for row in rows:
        cursor = conn.execute(f"INSERT INTO runs ({names}) VALUES ({marks}) ON CONFLICT (run_id) DO NOTHING",
                              [row.get(c) for c in columns])
        if cursor.rowcount > 0:
            new.add(row["run_id"])
    moved = [e for e in events if e["run_id"] in new]
    for event in moved:
        if "billed_micro_usd" in event:
            conn.execute("INSERT INTO bill_events (run_id, at, billed_micro_usd, final, source) VALUES (?, ?, ?, ?, ?)",
                         (event["run_id"], event["at"], event["billed_micro_usd"], event["final"], event["source"]))
        else:
            conn.execute("INSERT INTO run_events (run_id, at, state, message) VALUES (?, ?, ?, ?)",
                         (event["run_id"], event["at"], event["state"], event["message"]))
    return len(new), len(moved)


@dataclass
class CheckResult:
    runs: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)
    recovery: str = ""  # how to get a damaged store's history back (content problems say their fix inline)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_ledger(ledger: Ledger, most: int = 20) -> CheckResult:
    """What is wrong with ``ledger``'s store and content (``most`` problems named; the count says the rest)."""
    result = CheckResult()
    try:
        result.problems += [f"store: {line}" for line in ledger.backend.problems()]
    except ledger.backend.errors as exc:  # too damaged to check: that is the answer
        result.problems.append(f"store: {' '.join(str(exc).split()) or type(exc).__name__}")
    if result.problems:  # a damaged store: reading rows could mislead; say how to get the history back
        result.recovery = ledger.backend.recovery()
        return result
    rows = ledger.query("SELECT * FROM runs")
    result.runs = len(rows)
    result.events = int(ledger.query("SELECT count(*) AS n FROM run_events")[0]["n"])
    states = {s.value for s in RunState}
    for row in rows:
        rid = str(row.get("run_id"))
        for column in MONEY_COLUMNS:
            value = row.get(column)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                result.problems.append(f"{rid}: {column} is {value!r}, not whole micro-dollars")
        if row.get("state") not in states:
            result.problems.append(f"{rid}: unknown state {row.get('state')!r}")
        for column in TIME_COLUMNS:
            if row.get(column) is not None and _bad_time(row[column]):
                result.problems.append(f"{rid}: {column} {row[column]!r} is not an ISO time")
        if row.get("ended_at") is None and row.get("state") not in ("pending",) and not row.get("handle"):
            result.problems.append(f"{rid}: open ({row.get('state')}) without a handle: tuneplan down {rid}")
    orphans = ledger.query("SELECT DISTINCT e.run_id FROM run_events e LEFT JOIN runs r ON r.run_id = e.run_id "
                           "WHERE r.run_id IS NULL")
    result.problems += [f"events of a run the ledger does not hold: {row['run_id']}" for row in orphans]
    if len(result.problems) > most:
        extra = len(result.problems) - most
        result.problems = result.problems[:most] + [f"… and {extra} more"]
    return result


def _bad_time(value: Any) -> bool:
    from remote_jobs.clock import parse_iso

    return parse_iso(value) is None
