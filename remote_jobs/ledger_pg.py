"""The ledger on a team's PostgreSQL server (psycopg 3, the ``team`` extra): the same tables as the SQLite file.

How it behaves where SQLite cannot go wrong the same way:
- the schema version lives in ``tuneplan_schema``; migrations run in one transaction under an advisory lock
  (per schema), so two processes upgrading at once cannot race and DDL lands whole or not at all;
- every statement is bounded by ``statement_timeout`` (``TUNEPLAN_LEDGER_STATEMENT_TIMEOUT_S``, default 30 s)
  and every connection attempt by ``connect_timeout`` (5 s): a slow or absent server is one clear line;
- a write that finds the server gone (restarting, failing over) is retried by the ledger until it is back,
  within ``TUNEPLAN_LEDGER_RETRY_S`` (default 600 s): the run goes on and its state lands when it can;
- a read-only role (finance) reads everything; its first write is a ``LedgerReadOnly`` line, not a traceback;
- a budget check takes a transaction-scoped advisory lock per project, so two launches racing for the last
  dollars of a budget are served one after the other.

Passwords: libpq reads ``PGPASSWORD``, ``~/.pgpass`` and service files; a URL is shown with ``***``.
"""

from __future__ import annotations

import os
from typing import Any

from planner.errors import BadInput
from remote_jobs.ledger_errors import LedgerDamaged, LedgerReadOnly, LedgerTimeout, LedgerUnavailable
from providers.secret_urls import mask_url
from remote_jobs import ledger_schema
from remote_jobs.ledger_schema import for_postgres, statements

CONNECT_TIMEOUT_S = 5
DEFAULT_STATEMENT_TIMEOUT_S = 30.0
SCHEMA_TABLE = "tuneplan_schema"


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise BadInput("a postgresql:// ledger needs psycopg 3: pip install 'tuneplan[team]'") from None
    return psycopg


class _Connection:
    """A psycopg connection spoken to with the ledger's ``?`` placeholders (one SQL text for both backends)."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.raw.execute(sql.replace("?", "%s"), tuple(params) if params else None)

    def close(self) -> None:
        self.raw.close()


class PostgresBackend:
    kind = "postgresql"
    retries_writes = True

    def __init__(self, url: str) -> None:
        self.psycopg = _psycopg()
        from psycopg.conninfo import conninfo_to_dict

        self.url = url
        self.shown = mask_url(url)
        self.identity = self.shown
        try:
            params = conninfo_to_dict(url)
        except self.psycopg.Error as exc:
            raise BadInput(f"{self.shown}: not a PostgreSQL URL libpq understands ({_line(exc)})") from None
        timeout_s = float(os.environ.get("TUNEPLAN_LEDGER_STATEMENT_TIMEOUT_S", DEFAULT_STATEMENT_TIMEOUT_S))
        self.statement_timeout_s = timeout_s
        # libpq's own options (search_path for a team schema, say) are kept; the timeout is added to them
        params["options"] = f"{params.get('options', '')} -c statement_timeout={int(timeout_s * 1000)}".strip()
        params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
        params.setdefault("application_name", "tuneplan")
        self.params = params
        self.errors = (self.psycopg.Error,)

    def connect(self) -> _Connection:
        from psycopg.rows import dict_row

        return _Connection(self.psycopg.connect(**self.params, autocommit=True, row_factory=dict_row))

    def begin(self, conn: _Connection) -> None:
        conn.execute("BEGIN")

    def lock(self, conn: _Connection, key: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ?))", (":" + key,))

    @staticmethod
    def rows(cursor: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in cursor.fetchall()]

    def rollback(self, conn: _Connection) -> None:
        try:
            if not conn.raw.closed and conn.raw.info.transaction_status != 0:  # 0: idle, nothing open
                conn.raw.execute("ROLLBACK")
        except self.psycopg.Error:
            pass  # a dropped connection has rolled the transaction back on the server already

    def is_duplicate(self, exc: BaseException) -> bool:
        return isinstance(exc, self.psycopg.errors.UniqueViolation)

    def is_transient(self, exc: BaseException) -> bool:
        """The server went away or refused us for now (restart, failover): worth trying again."""
        errors = self.psycopg.errors
        if isinstance(exc, (errors.QueryCanceled, errors.LockNotAvailable)):
            return False
        return isinstance(exc, (self.psycopg.OperationalError, self.psycopg.InterfaceError))

    def trouble(self, exc: BaseException) -> BadInput:
        errors, text = self.psycopg.errors, _line(exc)
        if isinstance(exc, (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)):
            return LedgerReadOnly(f"{self.shown}: this database role can read the ledger but not change it ({text}); "
                                  "reports and the TUI's Report screen work, launching needs a role that can write")
        if isinstance(exc, errors.QueryCanceled):
            return LedgerTimeout(f"{self.shown}: a ledger query ran past the {self.statement_timeout_s:g} s statement "
                                 "timeout (TUNEPLAN_LEDGER_STATEMENT_TIMEOUT_S); the server is slow or a lock is held")
        if isinstance(exc, (errors.UndefinedTable, errors.UndefinedColumn)):
            return LedgerDamaged(f"{self.shown}: not a tuneplan ledger ({text}); point TUNEPLAN_LEDGER_URL at the "
                                 "team's ledger database (and schema)")
        if self.is_transient(exc):
            return LedgerUnavailable(f"cannot reach the team ledger at {self.shown} ({text}); nothing was started "
                                     "or changed")
        return LedgerDamaged(f"{self.shown}: the ledger refused the operation ({text})")

    def recovery(self) -> str:
        return "restore the database from the server's backups (pg_dump / point-in-time recovery)"

    def migrate(self) -> int:
        """The schema at its newest version, upgraded under an advisory lock; returns the version."""
        conn = self.connect()
        try:
            version = self._version(conn)
            if version >= len(ledger_schema.MIGRATIONS):
                return version
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':tuneplan-migrate'))")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL)")
            version = self._version(conn)  # another process may have upgraded while we waited for the lock
            if conn.execute(f"SELECT count(*) AS n FROM {SCHEMA_TABLE}").fetchone()["n"] == 0:
                conn.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (0)")
            for pending in range(version, len(ledger_schema.MIGRATIONS)):
                for statement in statements(ledger_schema.MIGRATIONS[pending]):
                    conn.execute(for_postgres(statement))
            conn.execute(f"UPDATE {SCHEMA_TABLE} SET version = ?", (len(ledger_schema.MIGRATIONS),))
            conn.execute("COMMIT")
            return len(ledger_schema.MIGRATIONS) if version < len(ledger_schema.MIGRATIONS) else version
        except BaseException:
            self.rollback(conn)
            raise
        finally:
            conn.close()

    def _version(self, conn: _Connection) -> int:
        if conn.execute("SELECT to_regclass(?) AS t", (SCHEMA_TABLE,)).fetchone()["t"] is None:
            return 0
        row = conn.execute(f"SELECT max(version) AS v FROM {SCHEMA_TABLE}").fetchone()
        return int(row["v"] or 0)

    def problems(self) -> list[str]:
        """PostgreSQL keeps its own pages sound; what can be wrong is the ledger's content."""
        return []


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
