"""The ledger: every run, what it was expected to cost and what it did cost, in one of two places.

- A SQLite file (the default; ``remote_jobs.ledger_sqlite``): one person's machine, nothing to set up.
- A team's PostgreSQL database (``remote_jobs.ledger_pg``): everyone's runs in one place, team budgets that
  hold across machines, a read-only role for finance.

Both hold the same tables, brought forward by the same migrations (``remote_jobs.ledger_schema``), money in
integer micro-dollars, times as UTC ISO text. Every write is one transaction: all of it lands, or none of it
does. A ledger from a newer tuneplan is read but never written. Where it is: ``remote_jobs.ledger_location``.
Reports read only the ledger. It never holds secrets.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from planner.errors import BadInput, NotFound
from planner.suggest import did_you_mean
from providers.types import RunState
from remote_jobs.clock import Clock, iso
from remote_jobs.ledger_errors import LedgerDamaged, LedgerReadOnly, LedgerTimeout, LedgerUnavailable
from remote_jobs.ledger_location import LedgerLocation, resolve_location
from remote_jobs import ledger_schema
from remote_jobs.ledger_schema import MIGRATIONS
from remote_jobs.money import to_micros
from remote_jobs.records import FIELDS, RunRecord, from_row, to_column

T = TypeVar("T")
# How long a write waits for a team ledger's server to come back (a restart, a failover) before it gives up.
DEFAULT_WRITE_RETRY_S = 600.0
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0


def default_path() -> Path:
    """The SQLite file a plain ``Ledger()`` uses when no URL is set anywhere."""
    location = resolve_location()
    if location.path is not None:
        return location.path
    from providers.paths import data_dir

    return data_dir() / "ledger.sqlite3"


def _backend(location: LedgerLocation):
    if location.is_team:
        from remote_jobs.ledger_pg import PostgresBackend

        return PostgresBackend(location.url or "")
    from remote_jobs.ledger_sqlite import SqliteBackend

    return SqliteBackend(location.path or default_path())


class Ledger:
    """Runs by id. Opens a short-lived connection per operation, so it is safe to share between processes."""

    def __init__(self, where: str | Path | LedgerLocation | None = None, clock: Clock | None = None) -> None:
        from remote_jobs.clock import default_clock

        self.location = where if isinstance(where, LedgerLocation) else resolve_location(where)
        self.clock = clock or default_clock()
        self.backend = _backend(self.location)
        self.path = self.location.path  # the SQLite file (None for a team ledger)
        self.shown = self.backend.shown
        self.identity = self.backend.identity
        self.version = self._migrate()

    # --- connections and schema --------------------------------------------------------------------------
    def _migrate(self) -> int:
        with self._errors():
            return self.backend.migrate()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The backend's errors as one line about the ledger (``LedgerDamaged``, ``LedgerUnavailable``, …)."""
        try:
            yield
        except self.backend.errors as exc:
            raise self.backend.trouble(exc) from None

    def transact(self, body: Callable[[Any], T]) -> T:
        """Run ``body(conn)`` in one write transaction: all of it lands, or none of it does.

        On a team ledger whose server went away (a restart), the whole transaction is tried again until the
        server is back, within ``TUNEPLAN_LEDGER_RETRY_S``: a run's state is written late, never lost.
        """
        if self.version > len(ledger_schema.MIGRATIONS):
            raise BadInput(f"{self.shown}: written by a newer tuneplan (schema {self.version}); upgrade to change it")
        deadline = time.monotonic() + _retry_window_s() if self.backend.retries_writes else 0.0
        pause = RETRY_FIRST_S
        while True:
            try:
                return self._transact_once(body)
            except self.backend.errors as exc:
                if not self.backend.is_transient(exc) or time.monotonic() + pause > deadline:
                    raise self.backend.trouble(exc) from None
            time.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    def _transact_once(self, body: Callable[[Any], T]) -> T:
        conn = self.backend.connect()
        try:
            self.backend.begin(conn)
            result = body(conn)
            conn.execute("COMMIT")
            return result
        except BaseException:
            self.backend.rollback(conn)
            raise
        finally:
            conn.close()

    def checked(self) -> "Ledger":
        """This ledger, once its store is found sound (``LedgerDamaged`` otherwise) and reachable; a launch asks
        first, so a run is never started that the ledger could not record."""
        with self._errors():
            found = self.backend.problems()
        if found:
            raise LedgerDamaged(f"{self.shown}: the ledger is damaged ({found[0]}); {self.backend.recovery()}")
        return self

    def writable(self) -> "Ledger":
        """This ledger, once a write is known to be allowed (``LedgerReadOnly`` for a finance role): a launch asks
        before it bundles anything, so a read-only user learns it in one line, not after the bundle is built."""
        self.transact(lambda conn: conn.execute("UPDATE runs SET updated_at = updated_at WHERE 1 = 0"))
        return self

    # --- writes --------------------------------------------------------------------------------------------
    def create(self, record: RunRecord, before: Callable[[Any], None] | None = None) -> None:
        """Insert a new run (its first event too). ``before(conn)`` runs first in the same transaction (a budget
        check that must see what it inserts next). A retried insert that finds its row already there (the
        first try's commit landed as the server went away) is not an error."""
        record.created_at = record.created_at or self.clock.now()
        record.updated_at = record.created_at
        row = dict(to_column(f.name, getattr(record, f.name)) for f in fields(record))
        names = ", ".join(row)

        def insert(conn: Any) -> None:
            if before is not None:
                before(conn)
            conn.execute(f"INSERT INTO runs ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
            self._event(conn, record.run_id, record.state.value, "recorded")

        try:
            self.transact(insert)
        except BadInput:
            if self.get(record.run_id) is None:
                raise

    def update(self, run_id: str, *, only_if_open: bool = False, only_if_state: RunState | None = None,
               message: str = "", **changes: Any) -> bool:
        """Change some fields of a run; with ``only_if_open``, only while no final state is recorded; with
        ``only_if_state``, only while the run is still in that state (a reader that is not the run's watcher
        never writes over a state the watcher has moved on from).

        A change of ``state`` is also written to the run's event history, and a bill figure (``billed_usd``, with
        ``bill_final``: whether the provider's billing had settled) to its bill history, with when it arrived: a
        closed month that a late bill changes can then say what changed. Returns whether a row changed.
        """
        changes["updated_at"] = self.clock.now()
        if "billed_usd" in changes:
            changes.setdefault("billed_at", changes["updated_at"])
            changes["bill_final"] = bool(changes.get("bill_final", False))
        columns = dict(to_column(name, value) for name, value in changes.items())
        sql = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in columns)} WHERE run_id = ?"
        sql += " AND ended_at IS NULL" if only_if_open else ""
        params = [*columns.values(), run_id]
        if only_if_state is not None:
            sql += " AND state = ?"
            params.append(RunState(only_if_state).value)

        def change(conn: Any) -> bool:
            changed = conn.execute(sql, params).rowcount > 0
            if changed and ("state" in changes or message):
                state = changes.get("state")
                self._event(conn, run_id, RunState(state).value if state else None, message)
            if changed and "billed_usd" in changes:
                conn.execute("INSERT INTO bill_events (run_id, at, billed_micro_usd, final, source) VALUES "
                             "(?, ?, ?, ?, ?)", (run_id, iso(changes["billed_at"]), to_micros(changes["billed_usd"]),
                                                 int(changes["bill_final"]), message))
            return changed

        return self.transact(change)

    def _event(self, conn: Any, run_id: str, state: str | None, message: str) -> None:
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
        raise NotFound(f"no run '{text}' in {self.shown}{did_you_mean(text, known)}")

    def runs(self, since: datetime | None = None, until: datetime | None = None) -> list[RunRecord]:
        """Runs created in [since, until), newest first."""
        sql, args = "SELECT * FROM runs WHERE 1 = 1", []
        if since is not None:
            sql, args = sql + " AND created_at >= ?", [*args, iso(since)]
        if until is not None:
            sql, args = sql + " AND created_at < ?", [*args, iso(until)]
        return [from_row(row) for row in self._query(sql + " ORDER BY created_at DESC", tuple(args))]

    def runs_in_use(self, since: datetime, until: datetime) -> list[RunRecord]:
        """Runs that may have used a machine in [since, until): created before ``until`` and created since
        ``since``, or ended or torn down since then, or not ended yet (a run's cost lands where it was used)."""
        sql = ("SELECT * FROM runs WHERE created_at < ? AND (created_at >= ? OR ended_at IS NULL OR ended_at >= ? "
               "OR torn_down_at >= ?) ORDER BY created_at DESC")
        return [from_row(row) for row in self._query(sql, (iso(until), iso(since), iso(since), iso(since)))]

    def claim_notification(self, run_id: str) -> bool:
        """True for the one caller that gets to announce this finished run's end (a conditional update: whoever
        observes the end first, from any machine)."""
        def claim(conn: Any) -> bool:
            return conn.execute("UPDATE runs SET notified_at = ? WHERE run_id = ? AND notified_at IS NULL AND "
                                "ended_at IS NOT NULL", (iso(self.clock.now()), run_id)).rowcount > 0

        return self.transact(claim)

    def bill_events(self, run_ids: list[str] | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Bill figures as they arrived (oldest first): each run's, or every run's, optionally only since a time."""
        sql, args = "SELECT run_id, at, billed_micro_usd, final, source FROM bill_events WHERE 1 = 1", []
        if since is not None:
            sql, args = sql + " AND at > ?", [*args, iso(since)]
        rows = self._query(sql + " ORDER BY at, id", tuple(args))
        wanted = None if run_ids is None else set(run_ids)
        return [row for row in rows if wanted is None or row["run_id"] in wanted]

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self._query("SELECT at, state, message FROM run_events WHERE run_id = ? ORDER BY id", (run_id,))

    def query(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        """Rows of one read (``?`` placeholders on both backends)."""
        with self._errors():
            conn = self.backend.connect()
            try:
                return self.backend.rows(conn.execute(sql, args))
            finally:
                conn.close()

    _query = query


def _retry_window_s() -> float:
    try:
        return max(0.0, float(os.environ.get("TUNEPLAN_LEDGER_RETRY_S", DEFAULT_WRITE_RETRY_S)))
    except ValueError:
        return DEFAULT_WRITE_RETRY_S


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


__all__ = ["FIELDS", "Ledger", "LedgerDamaged", "LedgerReadOnly", "LedgerTimeout", "LedgerUnavailable", "MIGRATIONS",
           "default_path"]
