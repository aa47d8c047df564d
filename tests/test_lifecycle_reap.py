"""`reap` on the fake cloud: it acts only on our prefix and this owner/host's tags, ends orphans and machines
the ledger says are finished, finishes runs a crash cut short, and leaves running ones alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from providers.types import Resource, RunHandle, RunState, TransientProviderError
from remote_jobs import launch as steps
from remote_jobs import reap
from remote_jobs.ledger import Ledger
from tests.contract.fake_cloud import FakeCloud
from tests.contract.harness import HOST, OWNER, FakeClock, Harness, smoke_spec


@pytest.fixture
def cloud(tmp_path):
    made = FakeCloud(tmp_path / "cloud", provisioning_s=0.05)
    yield made
    for machine in list(made.machines.values()):
        made.teardown(RunHandle("fake", machine.run_id, machine.name))


def launched(harness: Harness, owner: str = OWNER, host: str = HOST, steps_: int = 2, step_seconds: float = 0.0):
    run_id = harness.run_id("r")
    plan = replace(harness.plan(run_id), owner=owner, host=host)
    handle = harness.launch(harness.bundle(run_id, steps=steps_, step_seconds=step_seconds), plan)
    return run_id, handle


def verdicts(items):
    return {item.run_id: item.verdict for item in items}


def test_reap_sorts_every_machine_and_acts_only_on_ours(cloud, tmp_path):
    clock, harness = FakeClock(), Harness(cloud, tmp_path)
    ledger = Ledger(tmp_path / "l.sqlite3", clock)
    orphan, _ = launched(harness)
    foreign, _ = launched(harness, owner="bob")
    elsewhere, _ = launched(harness, host="other-host")
    running, _ = launched(harness, steps_=100, step_seconds=0.1)
    from tests.test_ledger import record

    ledger.create(record(running, provider="fake", host=HOST, state=RunState.RUNNING,
                         handle=RunHandle("fake", running, f"tp-{running}")))
    cloud.foreign.append(Resource("vm-123", "someone-elses-vm", "not-ours", {}, RunState.RUNNING,
                                  RunHandle("fake", "not-ours", "vm-123")))
    harness.wait(harness.handles[0])
    items = reap.survey(ledger, [cloud], OWNER, HOST, False, clock)
    assert verdicts(items) == {orphan: "orphan", foreign: "foreign", elsewhere: "foreign", running: "active"}
    for item in items:
        if item.actionable:
            assert reap.act(item, ledger, cloud, clock, tmp_path / "runs") == "torn down"
    left = {r.run_id for r in cloud.list_resources()}
    assert orphan not in left and {foreign, elsewhere, running, "not-ours"} <= left
    everything = reap.survey(ledger, [cloud], OWNER, HOST, True, clock)
    assert verdicts(everything)[foreign] == "orphan", "--all-owners ends other owners' machines too"


def test_reap_finishes_a_run_that_ended_while_nobody_watched(cloud, tmp_path):
    clock, harness = FakeClock(), Harness(cloud, tmp_path)
    ledger = Ledger(tmp_path / "l.sqlite3", clock)
    request = steps.prepare(smoke_spec(steps=2, owner=OWNER), None, cloud, clock)
    request.plan = replace(request.plan, host=HOST)
    bundle = steps.bundle_and_validate(request, tmp_path / "runs")
    run = steps.start(request, bundle, ledger, clock, tmp_path / "runs")
    harness.wait(run.record.handle)  # the CLI "died": nobody watched the end
    items = reap.survey(ledger, [cloud], OWNER, HOST, False, clock)
    assert verdicts(items) == {run.run_id: "unpulled"}
    assert reap.act(items[0], ledger, cloud, clock, tmp_path / "runs") == "finished as succeeded"
    record = ledger.get(run.run_id)
    assert record.state == RunState.SUCCEEDED and record.artifacts and record.torn_down_at
    assert reap.survey(ledger, [cloud], OWNER, HOST, False, clock) == []


def test_a_launch_the_provider_refuses_is_recorded_and_cleaned_up(cloud, tmp_path):
    clock = FakeClock()
    ledger = Ledger(tmp_path / "l.sqlite3", clock)
    cloud.fail_next["launch"] = 99
    request = steps.prepare(smoke_spec(steps=2), None, cloud, clock)
    bundle = steps.bundle_and_validate(request, tmp_path / "runs")
    with pytest.raises(TransientProviderError):
        steps.start(request, bundle, ledger, clock, tmp_path / "runs")
    record = ledger.get(request.run_id)
    assert record.state == RunState.FAILED and record.failure_reason.startswith("launch failed: fake cloud")
    assert record.finished and cloud.list_resources() == []
