"""The RunPod provider's API side through its real HTTP client against the fake RunPod API on 127.0.0.1:
prices, a bad key or none, outages and timeouts (retried, then one clear line), no capacity (the next
acceptable GPU, or a clear message) told apart from other create errors, the priced cloud, a launch asked
twice, values that need escaping, the template's requirements installed on the pod, billing only once it is
complete, and the pod's own dead-man timer."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from providers.runpod.api import NoCapacity, PodNotFound, RunpodApi
from providers.runpod.provider import RunpodProvider
from providers.types import LaunchPlan, ProviderError, RunHandle, RunState, TransientProviderError
from remote_jobs.bundle import seal_bundle
from tests.contract.harness import Harness
from tests.contract.harness_runpod import fast_provider
from tests.fake_runpod import KEY, FakeRunpod


@pytest.fixture
def fake(tmp_path):
    server = FakeRunpod(tmp_path / "fake-runpod")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def harness(fake, tmp_path):
    made = Harness(fast_provider(fake, tmp_path), tmp_path)
    yield made
    made.cleanup()


def gpu_plan(harness: Harness, run_id: str, **changes) -> LaunchPlan:
    return replace(harness.plan(run_id), **{"gpu": "RTX4090", "gpus": 1, **changes})


def wait_gone(fake: FakeRunpod, pod_id: str, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pod_id not in fake.pods:
            return True
        time.sleep(0.05)
    return False


def test_offers_carry_secure_community_and_spot_prices_with_source_and_date(fake, tmp_path):
    provider = fast_provider(fake, tmp_path)
    provider._today = lambda: date(2026, 11, 26)
    offers = provider.offers()
    h100 = {(o.offering, o.spot): o.usd_per_hour for o in offers if o.gpu == "H100" and o.gpus == 1}
    assert h100 == {("secure-cloud", False): Decimal("3.29"), ("secure-cloud", True): Decimal("2.09"),
                    ("community-cloud", False): Decimal("2.69"), ("community-cloud", True): Decimal("1.59")}
    assert all(o.as_of == "2026-11-26" and fake.url in o.source for o in offers)
    assert {o.gpus for o in offers if o.gpu == "RTX4090"} == {1, 2, 4, 8}
    assert not any("3060" in o.gpu for o in offers), "a GPU type the catalog does not know is skipped"


def test_without_a_key_offers_come_from_the_dated_snapshot_and_check_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.runpod/config.toml either
    provider = RunpodProvider(state_root=tmp_path / "state")
    offers = provider.offers()
    assert offers and all(o.source and o.as_of[:2] == "20" for o in offers)
    result = provider.check()
    assert not result.ok and "RUNPOD_API_KEY" in result.fix
    for call in (provider.list_resources, lambda: provider.teardown(RunHandle("runpod", "r-1", "pod1", {}))):
        with pytest.raises(ProviderError) as caught:  # not a quiet "nothing there" / "torn down"
            call()
        assert "no RunPod API key" in str(caught.value) and "RUNPOD_API_KEY" in str(caught.value)


def test_a_bad_key_is_one_line_with_the_fix_and_never_shows_the_key(fake, tmp_path):
    wrong = "rp_wrong_key_0123456789"
    provider = RunpodProvider(api=RunpodApi(wrong, fake.url, first_delay_s=0.01), state_root=tmp_path / "s")
    with pytest.raises(ProviderError) as caught:
        provider.offers()
    message = str(caught.value)
    assert "401" in message and "RUNPOD_API_KEY" in message and "\n" not in message
    assert wrong not in message and KEY not in message
    check = provider.check()
    assert not check.ok and "rejected" in check.message


def test_outages_and_timeouts_are_retried_with_backoff(fake, tmp_path):
    sleeps: list[float] = []
    api = RunpodApi(KEY, fake.url, timeout_s=0.5, first_delay_s=0.2, sleep=sleeps.append)
    fake.timeout_sleep_s = 1.0
    fake.fail_next = ["503", "timeout", "500"]
    types = api.graphql("query GpuTypes { gpuTypes { id } }", what="the GPU types query")["gpuTypes"]
    assert len(types) == 7
    assert sleeps == [0.2, 0.4, 0.8], "three failures, three doubling waits, then the answer"


def test_a_lasting_outage_ends_in_one_clear_retryable_failure(fake, tmp_path):
    sleeps: list[float] = []
    provider = RunpodProvider(api=RunpodApi(KEY, fake.url, attempts=3, first_delay_s=0.1, sleep=sleeps.append),
                              state_root=tmp_path / "s")
    fake.fail_next = ["503"] * 3
    with pytest.raises(TransientProviderError) as caught:
        provider.offers()
    assert "after 3 attempts" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert sleeps == [0.1, 0.2]


def test_a_create_that_timed_out_but_happened_is_adopted_not_repeated(fake, tmp_path):
    harness = Harness(fast_provider(fake, tmp_path, timeout_s=0.5), tmp_path)
    run_id = harness.run_id("timeout")
    fake.timeout_sleep_s = 1.0  # longer than the client's timeout: the pod is made, the answer is lost
    fake.fail_next = ["pass", "timeout"]  # the launch's look-up by name answers; the create's answer is lost
    handle = harness.launch(harness.bundle(run_id, steps=1), gpu_plan(harness, run_id))
    assert fake.calls.count("podFindAndDeployOnDemand") == 1, "the create was not sent twice"
    assert [p.name for p in fake.pods.values()] == [f"tp-{run_id}"], "exactly one pod"
    assert handle.resource_id in fake.pods


def test_no_capacity_moves_to_the_next_acceptable_gpu(fake, harness):
    fake.no_capacity = {"NVIDIA GeForce RTX 4090"}
    run_id = harness.run_id("capacity")
    plan = gpu_plan(harness, run_id, gpu_choices=("RTX4090", "L40S"))  # the real LaunchPlan field
    handle = harness.launch(harness.bundle(run_id, steps=1), plan)
    assert handle.data["gpu"] == "L40S"
    assert fake.pods[handle.resource_id].request["gpuTypeId"] == "NVIDIA L40S"
    assert fake.calls.count("podFindAndDeployOnDemand") == 2


def test_a_create_refused_for_money_or_a_bad_type_is_not_read_as_no_capacity(fake, harness):
    fake.create_errors = {"NVIDIA GeForce RTX 4090": "Not enough funds to deploy this pod (balance $0.12)"}
    run_id = harness.run_id("funds")
    plan = gpu_plan(harness, run_id, gpu_choices=("RTX4090", "L40S"))
    with pytest.raises(ProviderError) as caught:
        harness.launch(harness.bundle(run_id, steps=1), plan)
    assert not isinstance(caught.value, NoCapacity) and "add credit" in str(caught.value)
    assert fake.calls.count("podFindAndDeployOnDemand") == 1 and not fake.pods, "no fallback to another GPU"

    fake.create_errors = {"NVIDIA GeForce RTX 4090": "Gpu type not found: NVIDIA GeForce RTX 4090"}
    other = harness.run_id("badtype")
    with pytest.raises(ProviderError) as caught:
        harness.launch(harness.bundle(other, steps=1), gpu_plan(harness, other))
    assert type(caught.value) is ProviderError and "refused creating the pod" in str(caught.value)
    assert not isinstance(caught.value, PodNotFound)


def test_no_capacity_anywhere_is_a_clear_message(fake, harness):
    fake.no_capacity = {"NVIDIA GeForce RTX 4090"}
    run_id = harness.run_id("nothing")
    with pytest.raises(ProviderError) as caught:
        harness.launch(harness.bundle(run_id, steps=1), gpu_plan(harness, run_id))
    assert "no free RTX4090 in secure cloud" in str(caught.value) and "resources.gpu" in str(caught.value)
    assert not fake.pods


def test_spot_and_community_reach_the_api_as_asked(fake, harness):
    run_id = harness.run_id("spot")
    plan = gpu_plan(harness, run_id, spot=True, region="any", offering="community-cloud", usd_per_hour=Decimal("0.20"))
    handle = harness.launch(harness.bundle(run_id, steps=1), plan)
    request = fake.pods[handle.resource_id].request
    assert request["cloudType"] == "COMMUNITY" and request["bidPerGpu"] == 0.2 and request["ports"] == "22/tcp"
    assert handle.data["cloud_type"] == "COMMUNITY" and "podRentInterruptable" in fake.calls


def test_the_cloud_is_the_one_the_price_came_from_else_the_settings_default(fake, tmp_path):
    """A community-priced plan rents community even when the settings say secure (the ledger bills the
    community price); a plan with no known offering gets the settings' cloud."""
    wants = {"community-cloud": ("secure", "COMMUNITY"), "secure-cloud": ("community", "SECURE"),
             "": ("community", "COMMUNITY"), "some-new-offering": ("secure", "SECURE")}
    for offering, (setting, expected) in wants.items():
        harness = Harness(fast_provider(fake, tmp_path, cloud_type=setting), tmp_path)
        run_id = harness.run_id("cloud")
        plan = gpu_plan(harness, run_id, region="any", offering=offering)
        assert f"{expected.lower()}-cloud pod" in harness.provider.destination(plan)
        handle = harness.launch(harness.bundle(run_id, steps=1), plan)
        assert fake.pods[handle.resource_id].request["cloudType"] == expected, offering
        harness.cleanup()


def test_a_launch_asked_twice_adopts_its_pod_with_the_same_keys(fake, harness, tmp_path):
    run_id = harness.run_id("twice")
    bundle, plan = harness.bundle(run_id, steps=1), gpu_plan(harness, run_id)
    first = harness.launch(bundle, plan)
    keys = tmp_path / "runpod-state" / run_id
    before = {name: (keys / name).read_bytes() for name in ("id_ed25519", "pod_host_ed25519")}
    second = harness.launch(bundle, plan)
    assert second.resource_id == first.resource_id and len(fake.pods) == 1
    assert fake.calls.count("podFindAndDeployOnDemand") == 1
    assert {name: (keys / name).read_bytes() for name in before} == before, "the pod's keys are kept"
    assert harness.wait(second).state == RunState.SUCCEEDED, "the adopted pod is reachable with the kept keys"


def test_a_pod_of_that_name_without_our_key_is_refused_not_duplicated(fake, harness, tmp_path):
    run_id = harness.run_id("foreign")
    bundle, plan = harness.bundle(run_id, steps=1), gpu_plan(harness, run_id)
    handle = harness.launch(bundle, plan)
    (tmp_path / "runpod-state" / run_id / "id_ed25519").unlink()  # as on another machine
    with pytest.raises(ProviderError) as caught:
        harness.launch(bundle, plan)
    assert "already exists" in str(caught.value) and list(fake.pods) == [handle.resource_id]


def test_teardown_keeps_the_key_until_runpod_has_ended_the_pod(fake, harness, tmp_path):
    run_id = harness.run_id("keep")
    handle = harness.launch(harness.bundle(run_id, steps=1), gpu_plan(harness, run_id))
    key = tmp_path / "runpod-state" / run_id / "id_ed25519"
    fake.fail_next = ["pass"] + ["503"] * 4  # the pod query answers; the terminate fails, is retried, gives up
    with pytest.raises(TransientProviderError) as caught:
        harness.provider.teardown(handle)
    assert "terminating the pod" in str(caught.value)
    assert key.is_file() and handle.resource_id in fake.pods, "nothing ended, so nothing forgotten"
    fake.fail_next = []
    harness.provider.teardown(handle)
    assert not key.exists() and wait_gone(fake, handle.resource_id)


def test_a_quote_and_a_newline_in_an_env_value_survive_the_trip(fake, harness, monkeypatch, tmp_path):
    tricky = 'say "hi" it\'s\nline two\\n } { "x": 1'
    monkeypatch.setenv("TP_TRICKY_TOKEN", tricky)
    script = ("import os, pathlib\nout = pathlib.Path('out'); out.mkdir()\n"
              "(out / 'value.txt').write_text(os.environ['TP_TRICKY_TOKEN'])\n")
    run_id = harness.run_id("quote")
    bundle = harness.script_bundle(run_id, script)
    handle = harness.launch(bundle, gpu_plan(harness, run_id, secrets=("TP_TRICKY_TOKEN",)))
    assert fake.pods[handle.resource_id].env["TP_TRICKY_TOKEN"] == tricky
    assert harness.wait(handle).state == RunState.SUCCEEDED
    harness.provider.fetch_artifacts(handle, tmp_path / "got")
    assert (tmp_path / "got" / "value.txt").read_text() == tricky


def test_output_streams_and_billing_comes_from_the_billing_endpoint(fake, harness):
    run_id = harness.run_id("bill")
    handle = harness.launch(harness.bundle(run_id, steps=1), gpu_plan(harness, run_id))
    assert harness.provider.billed_cost(handle) is None, "no bill while the pod runs"
    followed = list(harness.provider.logs(handle, follow=True))  # streams until the job has ended
    assert followed[-1] == 'TUNEPLAN_DONE {"ok": true}' and harness.provider.status(handle).state == RunState.SUCCEEDED
    assert not any("installing requirements" in line for line in followed), "smoke needs nothing installed"
    harness.provider.teardown(handle)
    assert wait_gone(fake, handle.resource_id)
    billed = harness.provider.billed_cost(handle)
    assert billed == fake.billed(handle.resource_id).quantize(Decimal("0.000001"))
    rate, start, end = next((r, s, e) for pid, r, s, e in fake.ended if pid == handle.resource_id)
    assert billed > 0 and abs(billed - rate * Decimal(str((end - start) / 3600))) <= Decimal("0.00001")
    assert "billing" in fake.calls


def test_a_bill_is_read_only_once_it_can_cover_the_pods_end(fake, tmp_path):
    clock = {"now": datetime.now(timezone.utc)}
    provider = fast_provider(fake, tmp_path, billing_settle=timedelta(hours=1), now=lambda: clock["now"])
    harness = Harness(provider, tmp_path)
    run_id = harness.run_id("settle")
    handle = harness.launch(harness.bundle(run_id, steps=1), gpu_plan(harness, run_id))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    provider.teardown(handle)
    assert wait_gone(fake, handle.resource_id)
    assert provider.billed_cost(handle) is None, "right after the end the last hour may still be billing"
    clock["now"] += timedelta(hours=2)
    pod_id, rate, start, end = fake.ended[-1]
    fake.ended[-1] = (pod_id, rate, end - 3 * 3600, end)  # a pod that ran three hours...
    fake.billing_lag_s = 2 * 3600  # ...whose last hours RunPod has not billed yet (earlier ones it has)
    assert fake.bill_records(pod_id, rate, end - 3 * 3600, end), "RunPod has billed part of the pod"
    assert provider.billed_cost(handle) is None, "the records stop before the hour the pod ended in"
    fake.billing_lag_s = 0
    assert provider.billed_cost(handle) == fake.billed(pod_id).quantize(Decimal("0.000001")) > Decimal("0.5")


def test_the_pod_installs_the_bundles_requirements_before_the_job(fake, harness, tmp_path):
    """pip on the pod, output in run.log, offline: a requirement this Python already has is satisfied; one
    that does not exist fails the run with a clear error before the job starts."""
    script = "import httpx, pathlib\nout = pathlib.Path('out'); out.mkdir()\n(out / 'ok.txt').write_text(httpx.__name__)\n"
    handles = {}
    for name, requirement in (("satisfied", "httpx\n"), ("missing", "tuneplan-no-such-package-zz\n")):
        run_id = harness.run_id(name)
        root = tmp_path / "bundles" / run_id
        root.mkdir(parents=True)
        (root / "job.py").write_text(script, encoding="utf-8")
        (root / "requirements.txt").write_text("# what the job imports\n" + requirement, encoding="utf-8")
        handles[name] = harness.launch(seal_bundle(root, run_id, "sft", "job.py", ()), gpu_plan(harness, run_id))
    ok = harness.wait(handles["satisfied"], timeout_s=60)
    assert ok.state == RunState.SUCCEEDED, ok.message
    log = "\n".join(harness.provider.logs(handles["satisfied"]))
    assert "installing requirements.txt" in log and "Requirement already satisfied: httpx" in log
    harness.provider.fetch_artifacts(handles["satisfied"], tmp_path / "got")
    assert (tmp_path / "got" / "ok.txt").read_text() == "httpx"
    bad = harness.wait(handles["missing"], timeout_s=60)
    assert bad.state == RunState.FAILED and "installing requirements.txt failed" in (bad.error or "")
    assert "tuneplan-no-such-package-zz" in "\n".join(harness.provider.logs(handles["missing"]))


def test_a_pod_whose_bundle_never_comes_ends_itself(fake, tmp_path):
    provider = fast_provider(fake, tmp_path, boot_timeout_s=1)
    harness = Harness(provider, tmp_path)
    run_id = harness.run_id("deadman")
    handle = provider.launch(harness.bundle(run_id, steps=1), gpu_plan(harness, run_id))
    assert wait_gone(fake, handle.resource_id), "nobody asked for the pod's status, and it ended itself"
    assert "podTerminate" in fake.calls
    assert provider.status(handle).exists is False


def test_a_finished_pod_that_nobody_pulls_ends_itself_after_the_pull_window(fake, tmp_path):
    provider = fast_provider(fake, tmp_path, pull_window_s=1)
    harness = Harness(provider, tmp_path)
    run_id = harness.run_id("window")
    handle = provider.launch(harness.bundle(run_id, steps=1), gpu_plan(harness, run_id))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    assert wait_gone(fake, handle.resource_id)
    with pytest.raises(ProviderError):
        provider.fetch_artifacts(handle, tmp_path / "late")


def test_a_bill_that_comes_after_the_teardown_is_recorded_by_a_later_refresh(fake, tmp_path):
    """At teardown RunPod has not settled the last hour (no bill, the ledger keeps rate × time); two hours on,
    ``refresh_bills`` (``tuneplan bills``) asks again and records RunPod's own figure."""
    from remote_jobs.bills import refresh_bills
    from remote_jobs.ledger import Ledger
    from tests.contract.harness import FakeClock, run_lifecycle, smoke_spec

    now = {"at": datetime.now(timezone.utc)}
    provider = fast_provider(fake, tmp_path, billing_settle=timedelta(hours=1), now=lambda: now["at"])
    ledger_clock = FakeClock()
    ledger = Ledger(tmp_path / "ledger.sqlite3", ledger_clock)
    record = run_lifecycle(smoke_spec(steps=2, step_seconds=0.05), provider, ledger, FakeClock(), tmp_path / "runs")
    assert record.state == RunState.SUCCEEDED and record.torn_down_at is not None
    assert record.billed_usd is None and record.actual_usd is not None  # rate × time until the bill comes
    assert [read.billed_usd for read in refresh_bills(ledger, {"runpod": provider})] == [None]  # still settling
    now["at"] += timedelta(hours=2)
    [read] = refresh_bills(ledger, {"runpod": provider})
    pod_id = fake.ended[-1][0]
    assert read.billed_usd == fake.billed(pod_id).quantize(Decimal("0.000001")) > 0
    assert ledger.find(record.run_id).billed_usd == read.billed_usd and not read.final
    assert ledger.find(record.run_id).bill_final is False, "read soon after the teardown: provisional"
    ledger_clock._now = ledger.find(record.run_id).torn_down_at + timedelta(days=1, minutes=1)
    [again] = refresh_bills(ledger, {"runpod": provider})  # a provisional bill is asked for again
    assert again.final and ledger.find(record.run_id).bill_final is True
    history = ledger.bill_events([record.run_id])
    assert [bool(row["final"]) for row in history] == [False, True] and history[0]["at"] < history[1]["at"]
    assert refresh_bills(ledger, {"runpod": provider}) == []  # a final bill is not asked for again


def test_an_answer_without_an_account_is_an_error_not_an_empty_account(fake, tmp_path):
    """GraphQL can answer 200 with ``{"data": {"myself": null}}``: that is no account, not one without pods."""
    provider = fast_provider(fake, tmp_path)
    fake.anonymous = True
    check = provider.check()
    assert not check.ok and "myself: null" in check.message
    with pytest.raises(ProviderError, match="no account behind the key"):
        provider.list_resources()
    from remote_jobs import reap
    from remote_jobs.ledger import Ledger
    from tests.contract.harness import HOST, OWNER, FakeClock

    items = reap.survey(Ledger(tmp_path / "l.sqlite3"), [provider], OWNER, HOST, False, FakeClock())
    assert [item.verdict for item in items] == ["unchecked"]


def test_pod_states_tuneplan_did_not_map_are_states_not_running(fake, harness):
    run_id = harness.run_id("dead")
    handle = harness.launch(harness.bundle(run_id, steps=200, step_seconds=0.1), gpu_plan(harness, run_id))
    assert harness.wait_running(handle).state == RunState.RUNNING
    fake.pods[handle.resource_id].desired = "DEAD"
    status = harness.provider.status(handle)
    assert status.state == RunState.FAILED and "DEAD" in status.message
    fake.pods[handle.resource_id].desired = "MIGRATING"
    assert harness.provider.status(handle).state == RunState.UNKNOWN
    fake.pods[handle.resource_id].desired = "RUNNING"


def test_a_bill_in_a_shape_tuneplan_does_not_read_says_so(fake, tmp_path):
    """A billing answer whose records carry other field names used to read as "no bill yet", forever."""
    from providers.runpod.billing import BillUnreadable, pod_bill

    class Api:
        def __init__(self, answer):
            self.answer = answer

        def get(self, path, params, what):
            assert path == "/v2/billing/pods" and params["podId"] == "pod-1" and params["bucketSize"] == "hour"
            return self.answer

    ended = datetime(2026, 11, 20, 10, 30, tzinfo=timezone.utc)
    later = ended + timedelta(hours=3)
    good = {"records": [{"podId": "pod-1", "time": "2026-11-20T10:00:00Z", "totalAmount": 0.35}]}
    assert pod_bill(Api(good), "pod-1", ended, later, timedelta(hours=1)) == Decimal("0.35")
    for odd in ({"records": [{"podId": "pod-1", "when": "2026-11-20T10:00:00Z", "usd": 0.35}]}, {"error": "x"}, "no"):
        with pytest.raises(BillUnreadable, match="cannot read this bill"):
            pod_bill(Api(odd), "pod-1", ended, later, timedelta(hours=1))
