"""The ledger: one SQLite file that remembers every run, what it was expected to cost and what it did cost.

Why SQLite and how it stays consistent:
- WAL mode and a busy timeout let the CLI, a second CLI and the TUI read and write at once;
- every write is one ``BEGIN IMMEDIATE`` transaction, so a kill -9 at any moment leaves either the old row
  or the new one, never half of each;
- the schema carries a version (``PRAGMA user_version``) and is brought forward by the migrations below,
  in order, each in its own transaction; a ledger from a newer tuneplan is read but never written.

Path: ``--ledger`` flag, else ``TUNEPLAN_LEDGER``, else ``<user data dir>/ledger.sqlite3``.
Reports read only this file. It never holds secrets.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from planner.errors import BadInput, NotFound
from planner.suggest import did_you_mean
from providers.types import RunState
from remote_jobs.clock import Clock, iso
from remote_jobs.records import FIELDS, RunRecord, from_row, to_column

_RUN_COLUMNS = """
    run_id TEXT PRIMARY KEY, name TEXT NOT NULL, project TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL,
    task TEXT, method TEXT, model TEXT, provider TEXT NOT NULL, cloud TEXT, region TEXT, gpu TEXT, gpus INTEGER,
    spot INTEGER NOT NULL DEFAULT 0, price_micro_usd_per_hour INTEGER, price_source TEXT, price_as_of TEXT,
    state TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT, torn_down_at TEXT,
    provisioning_s REAL, running_s REAL, tokens INTEGER, estimate_hours REAL, estimate_micro_usd INTEGER,
    estimate_peak_gib REAL, max_total_micro_usd INTEGER, max_runtime_s INTEGER, actual_micro_usd INTEGER,
    billed_micro_usd INTEGER, artifacts TEXT NOT NULL DEFAULT '[]', failure_reason TEXT, handle TEXT,
    spec_path TEXT, runs_dir TEXT, bundle_sha256 TEXT, updated_at TEXT
"""
# Forward migrations: MIGRATIONS[i] brings schema version i to i + 1. Append only; never edit a shipped one.
MIGRATIONS: list[str] = [
    f"CREATE TABLE runs ({_RUN_COLUMNS});"
    "CREATE INDEX runs_created ON runs (created_at);",
    "CREATE TABLE run_events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at TEXT NOT NULL, "
    "state TEXT, message TEXT);"
    "CREATE INDEX run_events_run ON run_events (run_id);",
    # What a run was (issue: never lose a trained adapter): the run it resumed, the tuneplan version that
    # launched it, the command-line overrides, the training machine's package versions, its final metrics and
    # the outcome of its Hub push (JSON).
    "ALTER TABLE runs ADD COLUMN resumed_from TEXT;"
    "ALTER TABLE runs ADD COLUMN tuneplan_version TEXT;"
    "ALTER TABLE runs ADD COLUMN overrides TEXT;"
    "ALTER TABLE runs ADD COLUMN versions TEXT;"
    "ALTER TABLE runs ADD COLUMN metrics TEXT;"
    "ALTER TABLE runs ADD COLUMN push TEXT;",
]


def default_path() -> Path:
    override = os.environ.get("TUNEPLAN_LEDGER")
    if override:
        return Path(override)
    from providers.paths import data_dir

    return data_dir() / "ledger.sqlite3"


class Ledger:
    """Runs by id. Opens a short-lived connection per operation, so it is safe to share between processes."""

    def __init__(self, path: Path | None = None, clock: Clock | None = None) -> None:
        from remote_jobs.clock import default_clock

        self.path = Path(path) if path is not None else default_path()
        self.clock = clock or default_clock()
        try:
            _private_file(self.path)
        except OSError as exc:
            raise LedgerUnavailable(f"{self.path}: cannot open the ledger ({exc.strerror or exc})") from None
        self.version = self._migrate()

    # --- connections and schema --------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it lands, or none of it does."""
        if self.version > len(MIGRATIONS):
            raise BadInput(f"{self.path}: written by a newer tuneplan (schema {self.version}); upgrade to change it")
        with self._sql_errors():
            conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            raise self._trouble(exc) from None
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()

    @contextmanager
    def _sql_errors(self) -> Iterator[None]:
        """SQLite's errors as one line about the ledger file (``LedgerDamaged``, ``LedgerUnavailable``)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self._trouble(exc) from None

    def _trouble(self, exc: sqlite3.DatabaseError) -> BadInput:
        """One line that says what is wrong with the ledger file and what to do about it."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        if "locked" in text or "busy" in text:
            return LedgerUnavailable(f"{self.path}: the ledger stayed locked by another tuneplan for 30 s ({text}); "
                                     "try again when it is done")
        if "no such table" in text or "no such column" in text:
            return LedgerDamaged(f"{self.path}: not a tuneplan ledger ({text}); point --ledger or TUNEPLAN_LEDGER "
                                 "at the right file")
        return LedgerDamaged(f"{self.path}: the ledger is damaged ({text}); move it aside (mv '{self.path}' "
                             f"'{self.path}.damaged'), then recover what it holds with: sqlite3 '{self.path}.damaged' "
                             f".recover | sqlite3 '{self.path}'")

    def _migrate(self) -> int:
        with self._sql_errors():
            conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            while version < len(MIGRATIONS):
                conn.execute("BEGIN IMMEDIATE")
                current = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have moved it
                if current == version:
                    for statement in filter(str.strip, MIGRATIONS[version].split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            return version
        except sqlite3.DatabaseError as exc:
            raise self._trouble(exc) from None
        finally:
            conn.close()

    def checked(self) -> "Ledger":
        """This ledger, once SQLite's quick check finds its file sound (``LedgerDamaged`` otherwise); a launch
        asks first, so a run is never started that the ledger could not record."""
        rows = self._query("PRAGMA quick_check", ())
        verdict = next(iter(rows[0].values()), "") if rows else ""
        if verdict != "ok":
            raise self._trouble(sqlite3.DatabaseError(f"quick check: {verdict or 'no answer'}"))
        return self

    # --- writes --------------------------------------------------------------------------------------------
    def create(self, record: RunRecord) -> None:
        """Insert a new run (its first event too)."""
        record.created_at = record.created_at or self.clock.now()
        record.updated_at = record.created_at
        row = dict(to_column(f.name, getattr(record, f.name)) for f in fields(record))
        names = ", ".join(row)
        with self._write() as conn:
            conn.execute(f"INSERT INTO runs ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
            self._event(conn, record.run_id, record.state.value, "recorded")

    def update(self, run_id: str, *, only_if_open: bool = False, only_if_state: RunState | None = None,
               message: str = "", **changes: Any) -> bool:
        """Change some fields of a run; with ``only_if_open``, only while no final state is recorded; with
        ``only_if_state``, only while the run is still in that state (a reader that is not the run's watcher
        never writes over a state the watcher has moved on from).

        A change of ``state`` is also written to the run's event history. Returns whether a row changed.
        """
        changes["updated_at"] = self.clock.now()
        columns = dict(to_column(name, value) for name, value in changes.items())
        sql = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in columns)} WHERE run_id = ?"
        sql += " AND ended_at IS NULL" if only_if_open else ""
        params = [*columns.values(), run_id]
        if only_if_state is not None:
            sql += " AND state = ?"
            params.append(RunState(only_if_state).value)
        with self._write() as conn:
            changed = conn.execute(sql, params).rowcount > 0
            if changed and ("state" in changes or message):
                state = changes.get("state")
                self._event(conn, run_id, RunState(state).value if state else None, message)
        return changed

    def _event(self, conn: sqlite3.Connection, run_id: str, state: str | None, message: str) -> None:
        conn.execute("INSERT INTO run_events (run_id, at, state, message) VALUES (?, ?, ?, ?)",
                     (run_id, iso(self.clock.now()), state, message))

    # --- reads ---------------------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return from_row(rows[0]) if rows else None

    def find(self, text: str) -> RunRecord:
        """A run by its id, a unique prefix of one, or a job name (``tuneplan watch tiny-sft`` means the newest
        run of the job called tiny-sft)."""
        exact = self.get(text)
        if exact is not None:
            return exact
        matches = self._query("SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY created_at DESC",
                              (_like_prefix(text),))
        named = [row for row in matches if str(row.get("name")) == text]
        if len(matches) == 1 or named:
            return from_row((named or matches)[0])
        if matches:
            ids = ", ".join(m["run_id"] for m in matches[:4])
            raise BadInput(f"'{text}' matches several runs: {ids}; give more of the run id")
        known = [r["run_id"] for r in self._query("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 200", ())]
        raise NotFound(f"no run '{text}' in {self.path}{did_you_mean(text, known)}")

    def runs(self, since: datetime | None = None, until: datetime | None = None) -> list[RunRecord]:
        """Runs created in [since, until), newest first."""
        sql, args = "SELECT * FROM runs WHERE 1 = 1", []
        if since is not None:
            sql, args = sql + " AND created_at >= ?", [*args, iso(since)]
        if until is not None:
            sql, args = sql + " AND created_at < ?", [*args, iso(until)]
        return [from_row(row) for row in self._query(sql + " ORDER BY created_at DESC", tuple(args))]

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self._query("SELECT at, state, message FROM run_events WHERE run_id = ? ORDER BY id", (run_id,))

    def _query(self, sql: str, args: tuple) -> list[dict[str, Any]]:
        with self._sql_errors():
            conn = self._connect()
            try:
                return [dict(row) for row in conn.execute(sql, args).fetchall()]
            finally:
                conn.close()


class LedgerDamaged(BadInput):
    """The ledger file cannot be read as a ledger (a damaged disk image, another file)."""

    title = "damaged ledger"


class LedgerUnavailable(BadInput):
    """Another process holds the ledger longer than the busy timeout."""

    title = "ledger busy"


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.DatabaseError:
        pass  # a damaged file may refuse the rollback too; the transaction dies with the connection


def _private_file(path: Path) -> None:
    """The ledger is its owner's alone (0600); SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


__all__ = ["FIELDS", "Ledger", "MIGRATIONS", "default_path"]
