"""The SkyPilot provider where the real SDK is awkward (review of 2026-11-26), each at the SDK boundary with
the fake in ``tests/contract/harness_skypilot.py`` behaving as SkyPilot 0.14.1 does: no jobs controller
(``queue_v2`` raises ClusterNotUpError), ``labels`` None while a managed job has no machine, cancel by name
that cancels nothing when two jobs share the name, a stuck API server (``sky.get`` never returns), a
cluster left in INIT by a failed launch, the runtime deadline across a recovery, and SIGKILL that is not
the limit."""

from __future__ import annotations

import os
import threading
import time

import pytest

from providers.types import LaunchPlan, ProviderError, RunState, TransientProviderError
from remote_jobs.ledger import Ledger
from tests.contract.harness import HOST, OWNER, FakeClock, Harness, run_lifecycle, smoke_spec
from tests.contract.harness_skypilot import make_provider


@pytest.fixture()
def sky(tmp_path, monkeypatch):
    provider, fake = make_provider(tmp_path)
    monkeypatch.setenv("PATH", f"{fake.root / 'bin'}:{os.environ['PATH']}")  # the fake `aws` for the bucket
    yield provider, fake, Harness(provider, tmp_path)
    fake.hold.set()


def spot_plan(harness: Harness, name: str, max_runtime_s: int = 60) -> LaunchPlan:
    return LaunchPlan(run_id=harness.run_id(name), owner=OWNER, host=HOST, max_runtime_s=max_runtime_s, spot=True)


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the fake cloud never got there"
        time.sleep(0.02)


def test_without_a_jobs_controller_reap_still_sees_the_clusters(sky):
    from sky.exceptions import ClusterNotUpError

    provider, fake, harness = sky
    with pytest.raises(ClusterNotUpError, match="No in-progress managed jobs"):  # the fake is as awkward as SkyPilot
        fake.get(fake.jobs.queue_v2(refresh=False))
    run_id = harness.run_id("clusteronly")
    harness.launch(harness.bundle(run_id, steps=50, step_seconds=0.1), harness.plan(run_id))
    wait_for(lambda: run_id and f"tp-{run_id}" in fake.clusters)
    found = provider.list_resources()
    assert [r.name for r in found] == [f"tp-{run_id}"] and found[0].owned_by(OWNER, HOST)
    harness.cleanup()
    assert not fake.clusters


def test_a_managed_job_without_a_machine_yet_is_still_recognised_as_ours(tmp_path):
    provider, fake = make_provider(tmp_path)
    fake.provisioning_s = 30  # STARTING for the whole test: SkyPilot reports labels=None
    harness = Harness(provider, tmp_path)
    plan = spot_plan(harness, "waiting")
    harness.launch(harness.bundle(plan.run_id), plan)
    wait_for(lambda: fake.managed.get(plan.resource_name) and fake.managed[plan.resource_name].status == "STARTING")
    records, *_ = fake.get(fake.jobs.queue_v2(refresh=False))
    assert records[0].labels is None
    [resource] = provider.list_resources()
    assert resource.state == RunState.PROVISIONING and resource.owned_by(OWNER, HOST)
    assert resource.tags["tuneplan-run"] == plan.run_id
    harness.cleanup()
    wait_for(lambda: fake.managed[plan.resource_name].status == "CANCELLED")


def test_teardown_cancels_every_unfinished_job_of_the_name_by_id(sky):
    provider, fake, harness = sky
    plan = spot_plan(harness, "twice")
    bundle = harness.bundle(plan.run_id, steps=200, step_seconds=0.1)
    first = provider.launch(bundle, plan)
    provider.launch(bundle, plan)  # a second submit of the same run: two unfinished jobs of one name
    wait_for(lambda: len(fake.managed_jobs) == 2 and all(j.status == "RUNNING" for j in fake.managed_jobs))
    fake.get(fake.jobs.cancel(name=plan.resource_name))  # what cancel by name does then: succeeds, cancels nothing
    assert "Multiple running jobs found" in fake.server_log[-1]
    assert all(j.status == "RUNNING" for j in fake.managed_jobs)
    fake.cancel_delay_s = 1.5  # the controller acts on the signal later (~15 s on a real one)
    provider.teardown(first)   # waits for CANCELLING instead of calling a working cancel a failure
    assert all(j.status in ("CANCELLING", "CANCELLED") for j in fake.managed_jobs)
    wait_for(lambda: [j.status for j in fake.managed_jobs] == ["CANCELLED", "CANCELLED"])
    provider.teardown(first)  # idempotent: nothing left to cancel


def test_teardown_says_so_when_a_managed_job_survives_the_cancel(sky):
    provider, fake, harness = sky
    plan = spot_plan(harness, "stubborn")
    handle = harness.launch(harness.bundle(plan.run_id, steps=200, step_seconds=0.1), plan)
    wait_for(lambda: fake.managed[plan.resource_name].status == "RUNNING")
    fake.ignore_cancel = True
    provider.cancel_wait_s = 1.0
    with pytest.raises(ProviderError, match=r"still running after cancel.*sky jobs cancel \d+"):
        provider.teardown(handle)
    fake.ignore_cancel = False
    harness.cleanup()


def test_a_stuck_api_server_is_a_transient_error_not_a_hang(tmp_path):
    provider, fake = make_provider(tmp_path, request_timeout_s=0.3, slow_request_timeout_s=0.3)
    harness = Harness(provider, tmp_path)
    run_id = harness.run_id("stuck")
    handle = harness.launch(harness.bundle(run_id), harness.plan(run_id))
    harness.wait(handle)
    fake.hold.clear()  # requests are accepted and never finish; sky.get would wait for ever
    try:
        with pytest.raises(TransientProviderError, match="no answer from the API server in 0.3 s"):
            provider.status(handle)
        with pytest.raises(ProviderError, match="logs of"):
            list(provider.logs(handle))  # the log read is bounded too (issue 23 item 9)
        with pytest.raises(TransientProviderError, match="no answer"):
            provider.teardown(handle)
    finally:
        fake.hold.set()
    harness.cleanup()
    assert not fake.clusters


def test_a_cluster_left_in_init_by_a_failed_launch_fails_the_run_and_is_downed(sky, tmp_path):
    from sky.exceptions import ResourcesUnavailableError

    provider, fake, _ = sky
    fake.fail_after_init = ResourcesUnavailableError("Failed to provision all possible launchable resources: L4:1")
    clock = FakeClock()
    record = run_lifecycle(smoke_spec(name="halfway"), provider, Ledger(tmp_path / "l.sqlite3", clock), clock,
                           tmp_path / "runs")
    assert record.state == RunState.FAILED and "L4:1" in record.failure_reason
    # the API server sends the error as JSON with a pickled exception; the reason is its type and message
    assert record.failure_reason == ("SkyPilot launch failed: ResourcesUnavailableError: Failed to provision all "
                                     "possible launchable resources: L4:1"), record.failure_reason
    assert record.torn_down_at is not None and "down" in fake.calls and not fake.clusters


def test_the_deadline_fixed_at_launch_holds_across_a_recovery(tmp_path, monkeypatch):
    """Old behaviour: each recovery reran ``timeout <limit>`` afresh, so a preempted job could run past its limit."""
    limit, left_at_launch = 60, 3
    provider, fake = make_provider(tmp_path, now=lambda: time.time() - (limit - left_at_launch))
    monkeypatch.setenv("PATH", f"{fake.root / 'bin'}:{os.environ['PATH']}")
    harness = Harness(provider, tmp_path)
    plan = spot_plan(harness, "recovers", max_runtime_s=limit)
    handle = harness.launch(harness.bundle(plan.run_id, steps=100, step_seconds=0.1), plan)  # needs 10 s

    def preempt_after_a_checkpoint() -> None:
        job = fake.managed[plan.resource_name]
        wait_for(lambda: job.status == "RUNNING" and any((job.bucket / job.name / "checkpoints").glob("checkpoint-*")))
        fake.jobs.preempt(job.name)

    threading.Thread(target=preempt_after_a_checkpoint, daemon=True).start()
    status = harness.wait(handle, timeout_s=30)
    assert fake.managed[plan.resource_name].recovery_count == 1
    assert status.state == RunState.BUDGET_STOPPED, status.message
    assert f"limit of {limit} s" in status.error
    harness.cleanup()


def test_a_deadline_already_passed_runs_nothing_and_is_budget_stopped(sky, tmp_path):
    provider, fake, _ = sky
    provider.now = lambda: time.time() - 3600  # the launch was an hour ago (say, a request that waited)
    clock = FakeClock()
    record = run_lifecycle(smoke_spec(name="late"), provider, Ledger(tmp_path / "l.sqlite3", clock), clock,
                           tmp_path / "runs")
    assert record.state == RunState.BUDGET_STOPPED, record.failure_reason
    assert "TUNEPLAN_PROGRESS" not in (tmp_path / "runs" / record.run_id / "run.log").read_text()


def test_sigkill_before_the_limit_is_a_failure_not_the_budget(sky, tmp_path):
    provider, fake, harness = sky
    run_id = harness.run_id("oom")
    script = "import os, signal\nprint('loading the model', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"
    handle = harness.launch(harness.script_bundle(run_id, script), harness.plan(run_id, max_runtime_s=3600))
    status = harness.wait(handle)
    assert status.state == RunState.FAILED and "SIGKILL (exit 137)" in status.error and "out-of-memory" in status.error
    harness.cleanup()


def test_the_real_sky_get_on_a_server_that_never_answers_gives_up_at_the_deadline(tmp_path):
    """The real SDK (``sky.get`` reads with no timeout) against a listener on 127.0.0.1 that accepts and never
    replies; a fresh interpreter, since SkyPilot caches its server URL per process."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(listener.accept()[0]) for _ in range(8)], daemon=True).start()
    port = listener.getsockname()[1]
    env = {**os.environ, "HOME": str(tmp_path / "home"), "SKY_RUNTIME_DIR": str(tmp_path / "runtime"),
           "SKYPILOT_API_SERVER_ENDPOINT": f"http://127.0.0.1:{port}", "SKYPILOT_DISABLE_USAGE_COLLECTION": "1"}
    code = ("from providers.skypilot import sdk\nsky = sdk.load_sky()\n"
            "try:\n    sdk.resolve(sky, 'a1b2c3', 'status of tp-x', timeout_s=1.0)\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                              cwd=Path(__file__).resolve().parents[1])
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert accepted, "sky.get never reached the listener"
    assert done.stdout.startswith("TransientProviderError SkyPilot status of tp-x: no answer from the API server "
                                  "in 1 s"), done.stdout + done.stderr[-2000:]


def test_a_spot_run_is_still_found_after_the_jobs_controller_autostopped(tmp_path, monkeypatch):
    """``jobs.queue_v2(refresh=False)`` raises ClusterNotUpError once the controller has autostopped (~10 idle
    minutes after the last job): a watch an hour later read that as "gone, artifacts lost", though they are
    complete in the bucket."""
    provider, fake = make_provider(tmp_path)
    monkeypatch.setenv("PATH", f"{fake.root / 'bin'}:{os.environ['PATH']}")
    harness = Harness(provider, tmp_path)
    done_plan, failing_plan = spot_plan(harness, "later"), spot_plan(harness, "broken")
    done = harness.launch(harness.bundle(done_plan.run_id, steps=2), done_plan)
    broken = harness.launch(harness.bundle(failing_plan.run_id, steps=3, fail_at=2), failing_plan)
    assert harness.wait(done, timeout_s=30).state == RunState.SUCCEEDED
    assert harness.wait(broken, timeout_s=30).state == RunState.FAILED
    fake.jobs.controller_stopped = True
    status = provider.status(done)
    assert status.state == RunState.SUCCEEDED and status.exists and "complete in" in status.message
    assert "manifest.json" in provider.fetch_artifacts(done, tmp_path / "got")
    assert provider.status(broken).state == RunState.FAILED, "asked again with refresh=True, not called lost"
    harness.cleanup()


def test_a_managed_run_pull_leaves_checkpoints_in_the_bucket_unless_asked(tmp_path, monkeypatch):
    provider, fake = make_provider(tmp_path)
    monkeypatch.setenv("PATH", f"{fake.root / 'bin'}:{os.environ['PATH']}")
    harness = Harness(provider, tmp_path)
    plan = spot_plan(harness, "ckpt")
    handle = harness.launch(harness.bundle(plan.run_id, steps=3), plan)
    assert harness.wait(handle, timeout_s=30).state == RunState.SUCCEEDED
    assert not any(p.startswith("checkpoints/") for p in provider.fetch_artifacts(handle, tmp_path / "plain"))
    assert any(p.startswith("checkpoints/") for p in provider.fetch_artifacts(handle, tmp_path / "all", True))
    harness.cleanup()
