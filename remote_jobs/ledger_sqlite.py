"""The ledger in one SQLite file: the default, nothing to set up.

Why it stays consistent: WAL mode and a busy timeout let the CLI, a second CLI and the TUI read and write at
once; every write is one ``BEGIN IMMEDIATE`` transaction (so a kill -9 leaves the old row or the new one, and
the budget check and the insert that follows it cannot interleave with another launch's); the schema version
is ``PRAGMA user_version``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from remote_jobs.ledger_errors import LedgerDamaged, LedgerUnavailable
from remote_jobs import ledger_schema
from remote_jobs.ledger_schema import statements

BUSY_TIMEOUT_S = 30.0


class SqliteBackend:
    kind = "sqlite"
    retries_writes = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown = str(path)
        self.identity = str(path.resolve())
        try:
            _private_file(path)
        except OSError as exc:
            raise LedgerUnavailable(f"{path}: cannot open the ledger ({exc.strerror or exc})") from None

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return conn

    def begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def lock(self, conn: sqlite3.Connection, key: str) -> None:
        """Serialise a read-then-write (a budget check): ``BEGIN IMMEDIATE`` already holds the write lock."""

    @staticmethod
    def rows(cursor: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in cursor.fetchall()]

    @staticmethod
    def rollback(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass  # a damaged file may refuse the rollback too; the transaction dies with the connection

    errors = (sqlite3.DatabaseError,)

    @staticmethod
    def is_duplicate(exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        return False

    def trouble(self, exc: BaseException) -> BadInput:
        """One line that says what is wrong with the ledger file and what to do about it."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        if "locked" in text or "busy" in text:
            return LedgerUnavailable(f"{self.path}: the ledger stayed locked by another tuneplan for "
                                     f"{BUSY_TIMEOUT_S:.0f} s ({text}); try again when it is done")
        if "no such table" in text or "no such column" in text:
            return LedgerDamaged(f"{self.path}: not a tuneplan ledger ({text}); point --ledger or TUNEPLAN_LEDGER "
                                 "at the right file")
        return LedgerDamaged(f"{self.path}: the ledger is damaged ({text}); {self.recovery()}")

    def recovery(self) -> str:
        return (f"move it aside (mv '{self.path}' '{self.path}.damaged'), then recover what it holds with: "
                f"sqlite3 '{self.path}.damaged' .recover | sqlite3 '{self.path}'")

    def migrate(self) -> int:
        """Bring the file to the newest schema, one migration per transaction; returns the version."""
        conn = self.connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            while version < len(ledger_schema.MIGRATIONS):
                conn.execute("BEGIN IMMEDIATE")
                current = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have moved it
                if current == version:
                    for statement in statements(ledger_schema.MIGRATIONS[version]):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            return version
        except BaseException:
            self.rollback(conn)
            raise
        finally:
            conn.close()

    def problems(self) -> list[str]:
        """What SQLite's full integrity check finds (empty: sound)."""
        conn = self.connect()
        try:
            found = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        finally:
            conn.close()
        return [] if found == ["ok"] else [str(line) for line in found]


def _private_file(path: Path) -> None:
    """The ledger is its owner's alone (0600); SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
