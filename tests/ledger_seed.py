"""A seeded ledger for report tests and the report benchmark: a few hundred (or 10,000) runs over 14 months,
several projects, owners and providers, failures and budget stops, billed and unbilled runs, a few still
open. Deterministic: the same seed gives the same ledger, byte for byte.

The rates are illustrative per-machine prices in the shape the launcher records (source and as-of date on
each), not quotes. Rows are written in one transaction with the ledger's own column mapping
(``records.to_column``), so 10,000 runs take a second rather than 10,000 transactions.

    python -m tests.ledger_seed /tmp/ledger.sqlite3 --runs 10000
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from providers.types import RunState
from remote_jobs.money import cost_for
from remote_jobs.records import RunRecord, to_column

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
FIRST = datetime(2025, 10, 1, tzinfo=timezone.utc)  # 14 months: 2025-10 .. 2026-11
TEAM = {"support": ("alice", "bob"), "search": ("carol", "alice"), "vision": ("dan", "erin"),
        "research": ("erin", "frank")}
# provider -> [(cloud, gpu, gpus, usd_per_hour, billed?)]
OFFERS = {
    "runpod": [("runpod", "RTX4090", 1, "0.69", True), ("runpod", "H100-PCIe", 1, "2.89", True),
               ("runpod", "A100-80GB", 2, "3.18", True)],
    "skypilot": [("aws", "A10G", 1, "1.006", False), ("gcp", "L4", 1, "0.7", False),
                 ("lambda", "H100", 8, "23.92", False), ("aws", "A100-80GB", 4, "16.388", False)],
    "modal": [("modal", "A10", 1, "1.1", True), ("modal", "H100", 1, "3.95", True), ("modal", "L4", 1, "0.8", True)],
    "local": [("local", "cpu", 0, "0.024", False), ("local", "RTX4090", 1, "0.135", False)],
}
TASKS = ("sft", "sft", "sft", "dpo", "classify", "embed", "smoke")
REASONS = {RunState.FAILED: "exit code 1: CUDA out of memory", RunState.CANCELLED: "cancelled by the owner",
           RunState.BUDGET_STOPPED: "stopped at max_total_usd"}


def seed_records(runs: int = 320, seed: int = 7, now: datetime = NOW) -> list[RunRecord]:
    """``runs`` records created between FIRST and ``now`` (the last few still open)."""
    rng = random.Random(seed)
    span_s = (now - FIRST).total_seconds()
    out = []
    for index in range(runs):
        created = FIRST + timedelta(seconds=int(span_s * (index + rng.random() * 0.9) / runs))
        out.append(_record(rng, index, created, now))
    return out


def _record(rng: random.Random, index: int, created: datetime, now: datetime) -> RunRecord:
    project = rng.choice(list(TEAM))
    provider = rng.choices(list(OFFERS), weights=(4, 3, 2, 1))[0]
    cloud, gpu, gpus, rate_text, billable = rng.choice(OFFERS[provider])
    rate = Decimal(rate_text)
    task = rng.choice(TASKS)
    name = f"{project}-{task}"
    estimate_h = round(rng.lognormvariate(0.3, 0.9), 4) if task != "smoke" else 0.01
    record = RunRecord(
        run_id=f"{name}-{created:%Y%m%d-%H%M%S}-{index:04x}", name=name, project=project, owner=rng.choice(TEAM[project]),
        host="seed-host", task=task, method=rng.choice(("lora", "qlora", "full")), model="Qwen/Qwen2.5-7B-Instruct",
        provider=provider, cloud=cloud, region="local" if provider == "local" else "us-east", gpu=gpu, gpus=gpus,
        spot=provider == "skypilot" and rng.random() < 0.3, price_usd_per_hour=rate, price_source=f"seed {provider} list",
        price_as_of="2026-09-01", created_at=created, estimate_hours=estimate_h,
        estimate_usd=(rate * Decimal(repr(estimate_h))).quantize(Decimal("0.000001")), estimate_peak_gib=21.5,
        max_total_usd=Decimal(50), spec_path=f"specs/{name}.yaml")
    if (now - created) < timedelta(hours=30):
        return _open(record, rng)
    return _finished(record, rng, billable)


def _open(record: RunRecord, rng: random.Random) -> RunRecord:
    record.state = rng.choice((RunState.RUNNING, RunState.RUNNING, RunState.PROVISIONING))
    record.started_at = record.created_at + timedelta(seconds=5)
    return record


def _finished(record: RunRecord, rng: random.Random, billable: bool) -> RunRecord:
    state = rng.choices((RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.BUDGET_STOPPED),
                        weights=(80, 9, 6, 5))[0]
    share = 1.0 if state == RunState.SUCCEEDED else rng.uniform(0.05, 0.9)
    provisioning_s = round(rng.uniform(20, 900), 3) if record.provider != "local" else round(rng.uniform(1, 5), 3)
    running_s = round((record.estimate_hours or 0.01) * 3600 * rng.uniform(0.75, 1.45) * share, 3)
    total_s = provisioning_s + running_s
    record.state, record.failure_reason = state, REASONS.get(state)
    record.started_at = record.created_at + timedelta(seconds=2)
    record.ended_at = record.started_at + timedelta(seconds=total_s)
    record.torn_down_at = record.ended_at + timedelta(seconds=round(rng.uniform(3, 400), 3))
    record.provisioning_s, record.running_s = provisioning_s, running_s
    record.actual_usd = cost_for(record.price_usd_per_hour, total_s)
    if billable and rng.random() < 0.8:
        record.billed_usd = (record.actual_usd * Decimal(repr(round(rng.uniform(0.97, 1.06), 4)))).quantize(
            Decimal("0.000001"))
    if record.task in ("sft", "dpo") and state == RunState.SUCCEEDED:
        record.tokens = int(running_s * rng.uniform(800, 5000))
    record.artifacts = [{"path": "adapter/adapter_model.safetensors", "sha256": f"{rng.getrandbits(256):064x}"}]
    return record


def write_ledger(path: Path | str, records: list[RunRecord], schema: list[str] | None = None) -> Path | str:
    """A ledger holding ``records`` (a SQLite file, or a postgresql:// URL's schema): the current schema by default,
    or the given migrations only (an older tuneplan's SQLite ledger). One transaction, the ledger's own column
    mapping."""
    from remote_jobs.ledger import Ledger

    if schema is not None:
        _create_schema(Path(path), schema)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}  # an older schema has fewer
            _insert(conn, records, columns)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return path
    ledger = Ledger(path)
    ledger.transact(lambda conn: _insert(conn, records, None))
    return path


def _insert(conn, records: list[RunRecord], columns: set[str] | None) -> None:
    for record in records:
        row = {c: v for c, v in (to_column(f.name, getattr(record, f.name)) for f in fields(record))
               if columns is None or c in columns}
        row["updated_at"] = row["created_at"]
        conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def _create_schema(path: Path, migrations: list[str]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for version, script in enumerate(migrations):
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a SQLite file or a postgresql:// URL")
    parser.add_argument("--runs", type=int, default=320)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_ledger(args.path, seed_records(args.runs, args.seed))
    print(f"wrote {args.runs} runs to {args.path}")


if __name__ == "__main__":
    main()


class FixedClock:
    """The report's clock in tests: always ``NOW`` (2026-11-26 12:00 UTC)."""

    def __init__(self, now: datetime = NOW) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        pass


@dataclass(frozen=True)
class Spend:
    """What the ledger says a period cost, computed apart from the report code (see ``ledger_spend``)."""

    usd: Decimal
    runs: int
    tolerance: Decimal

    def matches(self, reported: Decimal) -> bool:
        return abs(Decimal(reported) - self.usd) <= self.tolerance


UNIT = Decimal("0.0001")


def ledger_spend(path: Path | str, since: datetime, until: datetime, now: datetime = NOW) -> Spend:
    """The spend of [since, until) straight from the ledger's columns with SQL (sqlite3 or psycopg), independent of
    the report code, to reconcile every format against: each finished run's cost (the bill, else the recorded cost
    plus rate × the idle time before teardown) is put in the period by the share of its machine's life (launch to
    teardown) that fell inside it. A run wholly inside counts its cost rounded to $0.0001; a run that crosses a
    boundary counts its exact share, and may differ from the report's split by $0.0001 (the tolerance)."""
    from decimal import ROUND_HALF_UP

    from remote_jobs.clock import parse_iso
    from tests.pg import sql_rows

    rows = sql_rows(str(path), "SELECT billed_micro_usd, actual_micro_usd, price_micro_usd_per_hour, created_at, "
                    "started_at, ended_at, torn_down_at FROM runs WHERE created_at < ?", (iso_text(until),))
    total, runs, crossing = Decimal(0), 0, 0
    for billed, actual, rate, created, started, ended, torn_down in rows:
        created, started, ended, torn_down = (parse_iso(t) if t else None for t in (created, started, ended, torn_down))
        start = started or created
        if ended is None:  # open: no cost yet, but in every period from its creation to now
            runs += created < until and since <= now
            continue
        life_end = torn_down or ended
        inside = max(0.0, (min(life_end, until) - max(start, since)).total_seconds())
        length = (life_end - start).total_seconds()
        whole = length <= 0 and since <= start < until or length > 0 and inside >= length
        touched = whole or inside > 0 or since <= created < until or since <= life_end < until
        runs += touched
        if billed is not None:
            micros = Decimal(billed)
        elif actual is not None:
            idle_s = Decimal(repr(round((life_end - ended).total_seconds(), 3)))  # the ledger keeps micro-dollars
            micros = Decimal(actual) + (Decimal(rate or 0) * idle_s / 3600).quantize(Decimal(1), ROUND_HALF_UP)
        else:
            continue
        usd = micros / 1_000_000
        if whole:
            if billed is None:  # the recorded cost and the idle cost are each rounded once
                idle = usd - Decimal(actual) / 1_000_000
                total += (Decimal(actual) / 1_000_000).quantize(UNIT, ROUND_HALF_UP) + idle.quantize(UNIT, ROUND_HALF_UP)
            else:
                total += usd.quantize(UNIT, ROUND_HALF_UP)
        elif inside > 0:
            crossing += 1
            total += usd * Decimal(repr(inside)) / Decimal(repr(length))
    return Spend(total, runs, UNIT * 2 * crossing)


def iso_text(moment: datetime) -> str:
    from remote_jobs.clock import iso

    return iso(moment)
