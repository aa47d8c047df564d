"""A real smoke run through SkyPilot on whatever cloud ``sky check`` enables: launch a small CPU machine,
watch, pull, verify, tear down. It costs cents, so it runs only when asked: ``TUNEPLAN_SKYPILOT_ONLINE=1``
(and SkyPilot credentials for at least one cloud). It uses your SkyPilot API server (a local one if none
is configured, which SkyPilot leaves running: ``sky api stop`` ends it)."""

from __future__ import annotations

import os

import pytest

from providers.types import RunState
from remote_jobs.ledger import Ledger
from tests.contract.harness import FakeClock, run_lifecycle, smoke_spec


@pytest.mark.online
def test_online_smoke_run_through_skypilot(tmp_path):
    if not os.environ.get("TUNEPLAN_SKYPILOT_ONLINE"):
        pytest.skip("set TUNEPLAN_SKYPILOT_ONLINE=1 with SkyPilot credentials (`sky check`) to spend a few cents")
    pytest.importorskip("sky")
    from providers.skypilot import make_provider

    provider = make_provider()
    if not provider.check().ok:
        pytest.skip(provider.check().message)
    clock = FakeClock(speed=1.0)
    record = run_lifecycle(smoke_spec(name="online", steps=3), provider, Ledger(tmp_path / "l.sqlite3", clock),
                           clock, tmp_path / "runs", poll_s=10.0, change_plan={"gpu": "cpu", "gpus": 0})
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    assert record.torn_down_at is not None and record.artifacts
    assert not [r for r in provider.list_resources() if r.run_id == record.run_id]
