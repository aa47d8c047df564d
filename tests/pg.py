"""PostgreSQL for the ledger tests: the server every developer and CI machine runs on 127.0.0.1:5432 (trust auth,
a database ``test``). Each ledger gets its own schema (``tp_<random>``), dropped afterwards, so two suites can run
side by side on one server. ``TUNEPLAN_TEST_PG_URL`` points the tests at another server (its database must exist).

A machine without the server skips the PostgreSQL half of the ledger tests with that reason (a user's clone
on a laptop); the SQLite half runs everywhere."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import pytest

BASE_URL = os.environ.get("TUNEPLAN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def admin_connect(url: str = BASE_URL):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def require_pg() -> None:
    try:
        admin_connect().close()
    except Exception as exc:  # noqa: BLE001 - any reason the server is not there
        pytest.skip(f"no PostgreSQL at {BASE_URL} ({' '.join(str(exc).split())[:120]}): the team-ledger half is skipped")


def schema_url(schema: str, url: str = BASE_URL) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@contextlib.contextmanager
def pg_schema() -> Iterator[tuple[str, str]]:
    """(URL whose search_path is a fresh schema, the schema's name); the schema is dropped afterwards."""
    require_pg()
    name = f"tp_{secrets.token_hex(6)}"
    with admin_connect() as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield schema_url(name), name
    finally:
        with admin_connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@contextlib.contextmanager
def ledger_at(kind: str, folder) -> Iterator[str]:
    """Where a fresh ledger of ``kind`` lives: a file in ``folder`` or a PostgreSQL schema's URL."""
    if kind == "sqlite":
        yield str(folder / "ledger.sqlite3")
        return
    with pg_schema() as (url, _):
        yield url


def sql_rows(where: str, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of one SELECT straight from the store (sqlite3 or psycopg), independent of tuneplan's code."""
    if where.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(where, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(sql.replace("?", "%s"), args).fetchall()]
    import sqlite3

    conn = sqlite3.connect(where)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@contextlib.contextmanager
def read_only_role(fill) -> Iterator[tuple[str, str]]:
    """A fresh team ledger schema, ``fill(url)``ed by its owner, and a login role that may only read it (what a
    finance user gets): (the reader's URL, the owner's URL). The role is dropped afterwards."""
    with pg_schema() as (url, schema):
        fill(url)
        role = f"tp_finance_{secrets.token_hex(4)}"
        with admin_connect() as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN")
            conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        try:
            yield url.replace("postgresql://postgres@", f"postgresql://{role}@"), url
        finally:
            with admin_connect() as conn:
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")
