"""The provider contract: what every provider (local, the fake cloud, later SkyPilot/Modal/RunPod) must do,
asked through the interface only."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from providers.types import RESOURCE_PREFIX, TAG_HOST, TAG_OWNER, ProviderError, RunHandle, RunState
from remote_jobs.artifacts import verify_dir
from tests.contract.harness import HOST, OWNER


def test_capabilities_are_data_with_reasons(harness):
    caps = harness.provider.capabilities()
    assert caps and len({c.name for c in caps}) == len(caps)
    for cap in caps:
        assert isinstance(cap.supported, bool) and cap.reason.strip()
    assert harness.provider.capability("spot") is not None


def test_check_and_offers_answer_without_raising(harness):
    result = harness.provider.check()
    assert isinstance(result.ok, bool) and result.message
    offers = harness.provider.offers()
    assert offers
    for offer in offers:
        assert isinstance(offer.usd_per_hour, Decimal) and offer.usd_per_hour >= 0
        assert offer.source and offer.as_of[:2] == "20"


def test_launch_returns_quickly_with_a_handle_that_survives_json(harness):
    run_id = harness.run_id()
    bundle = harness.bundle(run_id, steps=3, step_seconds=0.3)
    started = time.monotonic()
    handle = harness.launch(bundle, harness.plan(run_id))
    assert time.monotonic() - started < 2.0
    assert RunHandle.from_json(handle.to_json()) == handle
    assert handle.run_id == run_id and handle.provider == harness.provider.name
    assert harness.provider.destination(harness.plan(run_id))


def test_resources_carry_prefix_run_id_and_tags(harness):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=2, step_seconds=0.2), harness.plan(run_id))
    found = [r for r in harness.provider.list_resources() if r.run_id == run_id]
    assert len(found) == 1
    resource = found[0]
    assert resource.name.startswith(RESOURCE_PREFIX) and run_id in resource.name
    assert resource.tags[TAG_OWNER] == OWNER and resource.tags[TAG_HOST] == HOST
    assert resource.owned_by(OWNER, HOST) and not resource.owned_by("someone-else", HOST)
    assert resource.handle.resource_id == handle.resource_id


def test_a_run_succeeds_reports_progress_and_logs(harness):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=4), harness.plan(run_id))
    status = harness.wait(handle)
    assert status.state == RunState.SUCCEEDED, status
    assert status.progress["step"] == status.progress["total_steps"] == 4
    lines = list(harness.provider.logs(handle))
    assert any(line.startswith("TUNEPLAN_PROGRESS ") for line in lines)
    assert 'TUNEPLAN_DONE {"ok": true}' in lines


def test_artifacts_are_fetched_and_verify(harness, tmp_path):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=3), harness.plan(run_id))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    plain, full = tmp_path / "plain", tmp_path / "full"
    copied = harness.provider.fetch_artifacts(handle, plain)
    assert {"manifest.json", "metrics.json", "smoke.txt"} <= set(copied)
    assert verify_dir(plain).ok and not (plain / "checkpoints").exists()
    harness.provider.fetch_artifacts(handle, full, include_checkpoints=True)
    assert (full / "checkpoints" / "checkpoint-3" / "trainer_state.json").is_file()


def test_teardown_is_idempotent_and_deletes_the_disk(harness, tmp_path):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=2), harness.plan(run_id))
    harness.wait(handle)
    harness.provider.fetch_artifacts(handle, tmp_path / "pulled")  # as the lifecycle does: outputs home first
    harness.provider.teardown(handle)
    harness.provider.teardown(handle)
    assert harness.provider.status(handle).exists is False
    assert run_id not in {r.run_id for r in harness.provider.list_resources()}
    with pytest.raises(ProviderError):
        harness.provider.fetch_artifacts(handle, tmp_path / "gone")


def test_teardown_of_something_never_launched_is_not_an_error(harness):
    ghost = RunHandle(harness.provider.name, "ghost-20261115-120000-dead", f"{RESOURCE_PREFIX}ghost-20261115-120000-dead",
                      {"workdir": str(harness.tmp / "nowhere")})
    harness.provider.teardown(ghost)
    assert harness.provider.status(ghost).exists is False


def test_a_failing_job_is_reported_with_its_error(harness):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=5, fail_at=2), harness.plan(run_id))
    status = harness.wait(handle)
    assert status.state == RunState.FAILED
    assert "forced failure at step 2" in (status.error or "")


def test_teardown_stops_a_running_job(harness):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=100, step_seconds=0.2), harness.plan(run_id))
    assert harness.wait_running(handle).progress
    started = time.monotonic()
    harness.provider.teardown(handle)
    assert time.monotonic() - started < 10
    assert harness.provider.status(handle).exists is False
    assert run_id not in {r.run_id for r in harness.provider.list_resources()}


def test_the_hard_runtime_limit_holds_with_nobody_watching(harness):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=100, step_seconds=0.2), harness.plan(run_id, max_runtime_s=1))
    time.sleep(1.5)  # nobody polls in between: the remote side must act on its own
    status = harness.wait(handle, timeout_s=10)
    assert status.state == RunState.BUDGET_STOPPED, status
    assert "limit" in (status.error or "")


def test_named_secrets_reach_the_job_and_nothing_else_does(harness, tmp_path, monkeypatch):
    monkeypatch.setenv("TP_TEST_TOKEN", "named-secret-value")
    monkeypatch.setenv("OTHER_SECRET_KEY", "must-not-travel")
    script = ("import json, os, pathlib\nout = pathlib.Path('out'); out.mkdir()\n"
              "(out / 'env.json').write_text(json.dumps({k: os.environ.get(k) for k in "
              "('TP_TEST_TOKEN', 'OTHER_SECRET_KEY')}))\n")
    run_id = harness.run_id()
    bundle = harness.script_bundle(run_id, script)
    assert "named-secret-value" not in bundle.tarball.read_bytes().decode("latin-1")
    handle = harness.launch(bundle, harness.plan(run_id, secrets=("TP_TEST_TOKEN",)))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    harness.provider.fetch_artifacts(handle, tmp_path / "env")
    seen = json.loads((tmp_path / "env" / "env.json").read_text())
    assert seen == {"TP_TEST_TOKEN": "named-secret-value", "OTHER_SECRET_KEY": None}


def test_billed_cost_is_decimal_or_none(harness):
    run_id = harness.run_id()
    handle = harness.launch(harness.bundle(run_id, steps=1), harness.plan(run_id))
    harness.wait(handle)
    harness.provider.teardown(handle)
    billed = harness.provider.billed_cost(handle)
    assert billed is None or (isinstance(billed, Decimal) and billed >= 0)
