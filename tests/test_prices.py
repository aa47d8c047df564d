"""The bundled price snapshot: Decimal prices for whole configurations, every row sourced and dated,
approximate dates as the first of the month, linear multi-GPU rows only where billing is per GPU,
staleness against an injected date, and the merge with a refreshed cache."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from planner.catalog.gpus import gpu_catalog
from planner.catalog.prices import (
    LAUNCHER_OF_CLOUD,
    merge,
    parse_as_of,
    rows_from_records,
    select,
    snapshot,
    to_record,
)
from tests.cli_inprocess import cli_json, run_cli

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-09", (date(2026, 11, 9), False)),
    ("~2026-08/09 (matches privum 2026-08-19)", (date(2026, 8, 1), True)),
    ("~2026-09/11 (matches silybench 2026-09-25, api-evangelist 2026-09-20)", (date(2026, 9, 1), True)),
    ("~2026-11 (catalog rows match datareceipts 2026-11-09)", (date(2026, 11, 1), True)),
    ("2025-10", (date(2025, 10, 1), True)),
    ("2026 (undated blog)", (date(2026, 1, 1), True)),
])
def test_as_of_dates_exact_or_first_of_month(text, expected):
    assert parse_as_of(text) == expected


def test_every_row_is_sourced_dated_and_priced_in_decimal():
    rows = snapshot()
    assert {r.cloud for r in rows} == {"runpod", "modal", "lambda", "aws", "gcp", "azure"}
    assert {r.offering for r in rows if r.cloud == "runpod"} == {"secure-cloud", "community-cloud"}
    for row in rows:
        assert row.source and row.as_of <= TODAY and row.gpu in gpu_catalog()
        assert isinstance(row.usd_per_hour, Decimal) and row.usd_per_hour > 0
        assert row.gpus in (1, 2, 4, 8)
    assert any(r.spot_usd_per_hour for r in rows if r.cloud == "aws")


def test_prices_are_for_the_whole_configuration():
    p5 = next(r for r in snapshot() if r.instance_type == "p5.48xlarge")
    assert p5.gpus == 8 and p5.usd_per_hour == Decimal("55.04") and p5.spot_usd_per_hour == Decimal("11.2543")
    modal_h100 = next(r for r in snapshot() if r.cloud == "modal" and r.gpu == "H100" and r.gpus == 1)
    assert modal_h100.gpu_only and modal_h100.usd_per_hour == Decimal("3.9492")


def test_linear_rows_only_for_per_gpu_billing_and_marked_derived():
    rows = snapshot()
    h100_community = {r.gpus: r for r in rows if r.cloud == "runpod" and r.offering == "community-cloud" and r.gpu == "H100"}
    assert set(h100_community) == {1, 2, 4, 8}
    assert h100_community[4].usd_per_hour == Decimal("2.69") * 4 and h100_community[4].derived
    assert not h100_community[1].derived
    b200_secure_8 = [r for r in rows if r.cloud == "runpod" and r.offering == "secure-cloud" and r.gpu == "B200" and r.gpus == 8]
    assert len(b200_secure_8) == 1 and b200_secure_8[0].usd_per_hour == Decimal("54.32")  # the source's own row wins
    assert not [r for r in rows if r.cloud == "lambda" and r.gpu == "H100" and r.gpus in (2, 4)]  # not derived


def test_staleness_uses_the_date_it_is_given():
    row = next(r for r in snapshot() if r.cloud == "runpod" and r.offering == "community-cloud" and r.gpu == "H100")
    assert row.as_of == date(2026, 11, 9)
    assert not row.is_stale(date(2026, 11, 26)) and row.is_stale(date(2026, 12, 10))
    assert row.age_days(date(2026, 11, 26)) == 17


def test_merge_newer_wins_and_keeps_source():
    old = next(r for r in snapshot() if r.cloud == "runpod" and r.offering == "secure-cloud" and r.gpu == "H100" and r.gpus == 1)
    newer = replace(old, usd_per_hour=Decimal("3.99"), as_of=date(2026, 11, 20), approx=False, source="live")
    older = replace(old, usd_per_hour=Decimal("1.00"), as_of=date(2025, 1, 1), source="ancient")
    merged = {r.key: r for r in merge(snapshot(), [newer])}
    assert merged[old.key].usd_per_hour == Decimal("3.99") and merged[old.key].source == "live"
    assert {r.key: r for r in merge(snapshot(), [older])}[old.key].source == old.source
    assert len(merge(snapshot(), [newer])) == len(snapshot())


def test_cached_records_load_leniently():
    good = to_record(snapshot()[0])
    records = [good, {"cloud": "runpod"}, "junk", {**good, "usd_per_hour": "abc"}, {**good, "gpu": "H999"},
               {**good, "as_of": "yesterday"}, {**good, "extra": 1}]
    rows = rows_from_records(records)
    assert len(rows) == 2 and rows[0].usd_per_hour == snapshot()[0].usd_per_hour


def test_select_filters_by_gpu_and_launcher_or_cloud():
    assert {r.cloud for r in select(snapshot(), provider="skypilot")} == {"aws", "gcp", "azure", "lambda"}
    assert {r.gpu for r in select(snapshot(), gpu="L4")} == {"L4"}
    assert all(LAUNCHER_OF_CLOUD[r.cloud] == "runpod" for r in select(snapshot(), provider="runpod"))


def test_prices_cli_json_marks_stale_and_keeps_dates(capsys):
    out = cli_json(capsys, "prices", "--gpu", "H100", "--provider", "runpod")
    assert out["prices"] and {p["gpu"] for p in out["prices"]} == {"H100"}
    for price in out["prices"]:
        assert price["source"] and price["as_of"] and Decimal(price["usd_per_hour"]) > 0
        assert price["stale"] == (price["age_days"] > out["stale_after_days"])
    secure = [p for p in out["prices"] if p["offering"] == "secure-cloud" and p["gpus"] == 1][0]
    assert secure["as_of"] == "2026-08-01" and secure["approx"] is True


def test_prices_cli_table_and_bad_filters(capsys):
    code, out, _ = run_cli(capsys, "prices", "--gpu", "rtx 4090")
    assert code == 0 and "RTX4090 × 1" in out and "deploybase.ai" in out
    code, _, err = run_cli(capsys, "prices", "--provider", "runpodd")
    assert code == 2 and err.count("\n") == 1 and "did you mean 'runpod'" in err
