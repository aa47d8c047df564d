"""The ledger's tables, as one list of forward migrations both backends apply (SQLite and PostgreSQL).

The statements are written once, in the SQL both databases accept, with SQLite's type names; ``for_postgres``
turns the three that differ into PostgreSQL's (``INTEGER`` is 32-bit there and micro-dollars outgrow it, so
every ``INTEGER`` becomes ``BIGINT``). Append only; never edit a shipped migration.
"""

from __future__ import annotations

import re

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
# MIGRATIONS[i] brings schema version i to i + 1.
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
    # Team budgets (issue: one ledger for the whole team): a limit per project, per owner ('*': everyone) and per
    # month ('YYYY-MM'; '*': every month), in micro-dollars; every launch checks spent + committed against it.
    "CREATE TABLE budgets (project TEXT NOT NULL, owner TEXT NOT NULL, month TEXT NOT NULL, "
    "limit_micro_usd INTEGER NOT NULL, updated_at TEXT, updated_by TEXT, PRIMARY KEY (project, owner, month));"
    "CREATE INDEX runs_project_created ON runs (project, created_at);",
    # Finance-grade reports: the spec's tags (JSON), and every bill figure as it arrived (when, how much, whether
    # the provider called it final), so a closed month that a late bill changes says what changed; the first
    # time each closed month's report was produced, to compare against.
    "ALTER TABLE runs ADD COLUMN tags TEXT;"
    "ALTER TABLE runs ADD COLUMN billed_at TEXT;"
    "ALTER TABLE runs ADD COLUMN bill_final INTEGER;"
    "CREATE TABLE bill_events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at TEXT NOT NULL, "
    "billed_micro_usd INTEGER, final INTEGER NOT NULL DEFAULT 0, source TEXT);"
    "CREATE INDEX bill_events_run ON bill_events (run_id);"
    "CREATE TABLE report_firsts (period TEXT PRIMARY KEY, produced_at TEXT NOT NULL, cost_micro_usd INTEGER NOT NULL, "
    "runs INTEGER NOT NULL);",
    # Estimates that learn from runs: the stack a run was planned for, the tokens/s its launch estimated, and what
    # the launch would have said without calibration (hours, dollars), so accuracy can be shown before and after.
    "ALTER TABLE runs ADD COLUMN stack TEXT;"
    "ALTER TABLE runs ADD COLUMN estimate_tokens_per_s REAL;"
    "ALTER TABLE runs ADD COLUMN uncalibrated_hours REAL;"
    "ALTER TABLE runs ADD COLUMN uncalibrated_micro_usd INTEGER;"
    "ALTER TABLE runs ADD COLUMN calibration TEXT;",
    # Notifications: when a run's end was announced (webhook, desktop), so whoever observes the end announces it
    # exactly once (watch, the TUI, a jobs refresh, reap).
    "ALTER TABLE runs ADD COLUMN notified_at TEXT;",
    # Experiment tracking: where the run's W&B or MLflow run lives.
    "ALTER TABLE runs ADD COLUMN tracking_url TEXT;",
]

_POSTGRES_TYPES = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def statements(migration: str) -> list[str]:
    """The statements of one migration (none of them holds a ';' inside a literal)."""
    return [part.strip() for part in migration.split(";") if part.strip()]


def for_postgres(statement: str) -> str:
    for pattern, replacement in _POSTGRES_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement
