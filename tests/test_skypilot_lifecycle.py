"""The SkyPilot provider through the whole lifecycle (launch → watch → pull → verify → teardown → record)
with SkyPilot's SDK boundary faked (``tests/contract/harness_skypilot.py``): a cluster run, a spot run as a
managed job that is preempted and recovers from its checkpoint in the bucket, a failure during setup
(SkyPilot keeps such a cluster for debugging, so our teardown must end it), a launch SkyPilot refuses,
``reap`` by prefix and tags, and the explicit state maps."""

from __future__ import annotations

import json
from dataclasses import replace
import os
import threading
import time
from pathlib import Path

import pytest

from providers.skypilot import states
from providers.types import RunState
from remote_jobs import launch as steps
from remote_jobs.bundle import seal_bundle
from remote_jobs.events import StateChanged
from remote_jobs.ledger import Ledger
from remote_jobs.watch import watch
from tests.contract.harness import FakeClock, run_lifecycle, smoke_spec
from tests.contract.harness_skypilot import make_provider


@pytest.fixture()
def sky(tmp_path, monkeypatch):
    provider, fake = make_provider(tmp_path)
    monkeypatch.setenv("PATH", f"{fake.root / 'bin'}:{os.environ['PATH']}")  # the fake `aws` for the bucket
    clock = FakeClock()
    return provider, fake, clock, Ledger(tmp_path / "ledger.sqlite3", clock)


def test_a_cluster_run_succeeds_pulls_verifies_and_is_downed(sky, tmp_path):
    provider, fake, clock, ledger = sky
    events: list = []
    record = run_lifecycle(smoke_spec(steps=3), provider, ledger, clock, tmp_path / "runs", events)
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    assert record.provider == "skypilot" and record.torn_down_at is not None
    assert {a["path"] for a in record.artifacts} >= {"artifacts/smoke.txt", "artifacts/metrics.json"}
    assert record.handle.resource_id == f"tp-{record.run_id}" and record.handle.data["mode"] == "cluster"
    assert fake.calls.count("launch") == 1 and "down" in fake.calls and not fake.clusters
    assert record.actual_usd is not None and record.billed_usd is None  # rate × duration: SkyPilot has no bill
    assert 'TUNEPLAN_DONE {"ok": true}' in (Path(record.runs_dir) / "run.log").read_text()
    assert [e.state for e in events if isinstance(e, StateChanged)][-1] == "succeeded"


def test_a_spot_run_is_a_managed_job_that_recovers_from_a_preemption(sky, tmp_path):
    provider, fake, clock, ledger = sky
    spec = smoke_spec(name="spotty", steps=12, step_seconds=0.1)
    preempted = threading.Event()

    def preempt_once_checkpointed() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            job = next(iter(fake.managed.values()), None)
            bucket = job.bucket / job.name / "checkpoints" if job else None
            if job and job.status == "RUNNING" and bucket and any(bucket.glob("checkpoint-*/trainer_state.json")):
                fake.jobs.preempt(job.name)
                preempted.set()
                return
            time.sleep(0.02)

    threading.Thread(target=preempt_once_checkpointed, daemon=True).start()
    record = run_lifecycle(spec, provider, ledger, clock, tmp_path / "runs", change_plan={"spot": True})
    assert preempted.is_set()
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    job = fake.managed[f"tp-{record.run_id}"]
    assert job.recovery_count == 1 and "jobs.launch" in fake.calls and "launch" not in fake.calls
    metrics = json.loads((Path(record.runs_dir) / "artifacts" / "metrics.json").read_text())
    assert metrics["resumed_from"], "the replacement machine resumed from the checkpoint in the bucket"
    assert record.handle.data["bucket"] == f"s3://tp-test-bucket/tuneplan/tp-{record.run_id}"


def test_spot_without_a_bucket_is_refused_before_anything_starts(tmp_path):
    provider, fake = make_provider(tmp_path, bucket=None)
    clock = FakeClock()
    with pytest.raises(Exception, match="skypilot.bucket"):
        run_lifecycle(smoke_spec(), provider, Ledger(tmp_path / "l.sqlite3", clock), clock, tmp_path / "runs",
                      change_plan={"spot": True})
    assert not fake.calls


def test_a_failure_during_setup_is_reported_and_our_teardown_ends_the_kept_cluster(sky, tmp_path):
    provider, fake, clock, ledger = sky
    request = steps.prepare(smoke_spec(name="badsetup"), None, provider, clock)
    root = tmp_path / "runs" / request.run_id / "bundle"
    root.mkdir(parents=True)
    (root / "job.py").write_text("print('never runs')\n")
    (root / "requirements.txt").write_text("this is not a requirement ===\n")
    bundle = seal_bundle(root, request.run_id, "smoke", "job.py", ())
    run = steps.start(request, bundle, ledger, clock, tmp_path / "runs")
    record = watch(run, poll_s=0.05)
    assert record.state == RunState.FAILED
    assert "setup failed" in record.failure_reason
    assert record.torn_down_at is not None and "down" in fake.calls and not fake.clusters
    assert "never runs" not in (Path(record.runs_dir) / "run.log").read_text()


def test_a_launch_skypilot_refuses_fails_the_run_with_its_reason(sky, tmp_path):
    from sky.exceptions import ResourcesUnavailableError

    provider, fake, clock, ledger = sky
    fake.fail_launch = ResourcesUnavailableError("Failed to acquire resources in all zones for T4:1")
    record = run_lifecycle(smoke_spec(name="nogpu"), provider, ledger, clock, tmp_path / "runs")
    assert record.state == RunState.FAILED
    assert "SkyPilot launch failed" in record.failure_reason and "T4:1" in record.failure_reason
    assert record.torn_down_at is not None


def test_reap_lists_our_clusters_by_prefix_and_ends_only_this_owners(sky, tmp_path):
    from remote_jobs.reap import act, survey
    from tests.contract.harness import HOST, OWNER

    provider, fake, clock, ledger = sky
    mine = f"reapme-20261115-120000-{1:04x}"
    plan = steps.LaunchPlan(run_id=mine, owner=OWNER, host=HOST, max_runtime_s=60, gpu="T4", gpus=1)
    other = steps.LaunchPlan(run_id=mine.replace("reapme", "theirs"), owner="bob", host="elsewhere",
                             max_runtime_s=60, gpu="T4", gpus=1)
    from tests.contract.harness import Harness

    harness = Harness(provider, tmp_path)
    for p in (plan, other):
        harness.launch(harness.bundle(p.run_id, steps=50, step_seconds=0.1), p)
    deadline = time.monotonic() + 10
    while len(fake.clusters) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    items = {i.run_id: i for i in survey(ledger, [provider], OWNER, HOST, False, clock)}
    assert items[mine].verdict == "orphan" and items[other.run_id].verdict == "foreign"
    act(items[mine], ledger, provider, clock, tmp_path / "runs")
    assert set(fake.clusters) == {other.resource_name}
    harness.cleanup()


def test_every_skypilot_state_is_mapped_and_an_unknown_one_reads_unknown():
    from sky.jobs.state import ManagedJobStatus
    from sky.skylet.job_lib import JobStatus
    from sky.utils.status_lib import ClusterStatus

    for enum, table in ((ClusterStatus, states.CLUSTER_STATES), (JobStatus, states.JOB_STATES),
                        (ManagedJobStatus, states.MANAGED_JOB_STATES)):
        assert {member.value for member in enum} <= set(table), f"{enum.__name__} has a state we do not map"
    assert states.job_state(JobStatus.FAILED_SETUP) == (RunState.FAILED, "SkyPilot job: FAILED_SETUP")
    assert states.managed_job_state(ManagedJobStatus.RECOVERING)[0] == RunState.PROVISIONING
    state, message = states.managed_job_state("HIBERNATING")
    assert state == RunState.UNKNOWN and "HIBERNATING" in message
    assert states.cluster_state(None)[0] == RunState.UNKNOWN


def test_logs_follow_streams_until_the_job_ends(sky, tmp_path):
    from tests.contract.harness import Harness

    provider, fake, _, _ = sky
    harness = Harness(provider, tmp_path)
    run_id = harness.run_id("follow")
    handle = harness.launch(harness.bundle(run_id, steps=4, step_seconds=0.1), harness.plan(run_id))
    lines = list(provider.logs(handle, follow=True))  # called while the cluster is still provisioning
    assert sum(line.startswith("TUNEPLAN_PROGRESS ") for line in lines) == 4
    assert lines[-1] == 'TUNEPLAN_DONE {"ok": true}' and "tail_logs" in fake.calls
    harness.cleanup()


def test_the_ledger_charges_the_machine_skypilot_launched_not_the_one_priced(sky, tmp_path):
    """Issue 23 item 5: SkyPilot's optimizer may choose another offer among the acceptable ones; the cluster
    record says which (cloud, region, accelerators, instance type in ``resources_str_full``), and the run's
    cost follows that machine's rate from our catalog."""
    from decimal import Decimal

    provider, fake, clock, ledger = sky
    fake.optimizer_picks = ("AWS", "us-east-2", {"L4": 1}, "g6.4xlarge")  # dearer than the g6.xlarge priced
    events: list = []
    record = run_lifecycle(smoke_spec(name="placed", steps=3, step_seconds=0.1, resources={"gpu": "L4"}),
                           provider, ledger, clock, tmp_path / "runs", events,
                           change_plan={"usd_per_hour": Decimal("0.8048"), "gpu": "L4", "gpus": 1})
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    assert (record.cloud, record.region, record.gpu, record.gpus) == ("aws", "us-east-2", "L4", 1)
    assert record.price_usd_per_hour == Decimal("1.3232") and "g6.4xlarge" in record.price_source
    assert any("launched 1x L4 on aws us-east-2" in getattr(e, "message", "") for e in events)


def test_an_offer_outside_the_priced_clouds_cannot_be_launched(sky, tmp_path):
    """The task pins ``infra:`` to skypilot.clouds: an optimizer choice elsewhere is not acceptable (the fake
    fails it as SkyPilot does when nothing acceptable is left)."""
    provider, fake, clock, ledger = sky
    fake.optimizer_picks = ("Lambda", "us-east-1", {"L4": 1}, "gpu_1x_l4")
    provider.options = replace(provider.options, clouds=("aws", "gcp"))
    record = run_lifecycle(smoke_spec(name="elsewhere", resources={"gpu": "L4"}), provider, ledger, clock,
                           tmp_path / "runs", change_plan={"gpu": "L4", "gpus": 1})
    assert record.state == RunState.FAILED and "not among the task's resources" in record.failure_reason


def test_a_spot_run_pays_for_the_jobs_controller_and_a_cluster_for_its_idle_minutes(tmp_path):
    """Issue 23 item 6: the jobs controller VM a managed job needs bills during the run and 10 idle minutes
    after (sky/jobs/constants.py); a cluster left to end itself bills until its autodown, not its job's end."""
    from datetime import timedelta
    from decimal import Decimal

    from providers.skypilot import SkyPilotProvider, TaskOptions
    from providers.types import RunHandle
    from remote_jobs.estimate import LaunchEstimate
    from remote_jobs.overheads import billed_life_usd, with_overheads
    from remote_jobs.records import RunRecord
    from tests.contract.harness import FakeClock

    provider = SkyPilotProvider(TaskOptions(idle_minutes=15))
    [controller] = provider.overheads(True)
    assert controller.usd_per_hour == Decimal("0.20") and controller.tail_s == 600 and "cpu_4x_general" in controller.source
    assert provider.overheads(False) == []
    estimate = LaunchEstimate("skypilot", "aws", "us-east-2", "L4", 1, True, "L4", 2.0, Decimal("0.5198"),
                              Decimal("0.2599"), None, "catalog", "2026-11-01", 0)
    priced = with_overheads(estimate, [controller])
    assert priced.usd_per_hour == Decimal("0.4599") and "jobs controller" in priced.price_source
    assert priced.usd == Decimal("0.5198") + Decimal("0.40") + Decimal("0.033333")  # 2 h + 10 idle minutes

    start = FakeClock().now()
    def record(mode: str, torn_down_after_h: float, spot: bool) -> RunRecord:
        return RunRecord(run_id="r", price_usd_per_hour=Decimal("1.00"), spot=spot, started_at=start,
                         ended_at=start + timedelta(hours=1), torn_down_at=start + timedelta(hours=torn_down_after_h),
                         handle=RunHandle("skypilot", "r", "tp-r", {"mode": mode}))
    assert billed_life_usd(record("cluster", 3, False), provider) == Decimal("1.25")  # autodown after 15 idle min
    assert billed_life_usd(record("cluster", 1.1, False), provider) == Decimal("1.10")  # our teardown came first
    assert billed_life_usd(record("managed", 3, True), provider) == Decimal("1.00") + Decimal("0.033333")


def test_a_cluster_run_is_charged_until_its_teardown_not_only_until_the_job_ended(sky, tmp_path):
    provider, fake, _, _ = sky
    class Minutes(FakeClock):
        """Wall time × 60: the pull after the job's end takes minutes of billed machine time."""

        def __init__(self) -> None:
            super().__init__(speed=60)
            self.began = time.monotonic()

        def now(self):
            from datetime import timedelta

            return self._now + timedelta(seconds=(time.monotonic() - self.began) * 60)

    clock = Minutes()
    ledger = Ledger(tmp_path / "life.sqlite3", clock)
    record = run_lifecycle(smoke_spec(name="life", steps=3), provider, ledger, clock, tmp_path / "runs")
    assert record.state == RunState.SUCCEEDED
    from decimal import Decimal

    from remote_jobs.money import cost_for

    life_s = (record.torn_down_at - record.started_at).total_seconds()
    assert record.torn_down_at > record.ended_at
    assert abs(record.actual_usd - cost_for(record.price_usd_per_hour, life_s)) <= Decimal("0.000002")  # ms-stored times
    assert record.actual_usd > cost_for(record.price_usd_per_hour, (record.ended_at - record.started_at).total_seconds())
