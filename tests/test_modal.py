"""The Modal provider: the App built with the real SDK (checked offline through the SDK's own definitions),
the function body run with ``.local()``, our GPU allow-list, segment planning for jobs over 24 h, and the
remote side (spawn, call status, volume reads, billing) faked at the SDK edge (tests/contract/harness_modal.py)."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from planner.errors import BadInput
from planner.spec import load_spec
from providers.modal.app import BUNDLE_PATH, VOLUME_PATH, build_app, local_job
from providers.modal.gpus import check_modal_gpu, modal_gpu
from providers.modal.segments import MODAL_MAX_TIMEOUT_S, plan_segments
from providers.settings import ModalSettings
from providers.types import TAG_RUN, LaunchPlan, ProviderError, RunHandle, RunState, TransientProviderError
from remote_jobs.artifacts import verify_dir
from remote_jobs.bundle import build_bundle, seal_bundle
from remote_jobs.ledger import Ledger
from remote_jobs.resolve import resolve_job
from tests.contract.harness import FakeClock, run_lifecycle, smoke_spec
from tests.contract.harness_modal import _impl, image_layers

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "tiny-smoke-20261126-090000-beef"


def _plan(**changes) -> LaunchPlan:
    base = {"run_id": RUN_ID, "owner": "alice", "host": "lab-1a2b3c", "max_runtime_s": 5400, "gpu": "H100",
            "gpus": 2, "secrets": ("HF_TOKEN",)}
    return LaunchPlan(**{**base, **changes})


def _sft_like_bundle(tmp_path: Path):
    """A hand-made bundle with the SFT template's pinned requirements (the image must install them)."""
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "job.py").write_text("print('hi')\n", encoding="utf-8")
    shutil.copyfile(ROOT / "templates" / "requirements-sft.txt", root / "requirements.txt")
    return seal_bundle(root, RUN_ID, "sft", "job.py", ("--config", "job.json"), ("HF_TOKEN",))


def _smoke_bundle(tmp_path: Path):
    spec_path = ROOT / "examples" / "tiny-smoke.yaml"
    job = resolve_job(load_spec(spec_path, {"smoke": {"step_seconds": 0.0}}), spec_path)
    return build_bundle(job, RUN_ID, tmp_path / "smoke-bundle")


def test_the_app_is_defined_with_the_real_sdk(tmp_path):
    bundle = _sft_like_bundle(tmp_path)
    built = build_app(bundle, _plan(), ModalSettings(volume="team-runs", cpu_cores=6, memory_gib=40))
    info = built.function.info()  # offline for a locally defined function
    assert info.gpus == [("H100", 2)]
    assert info.timeout == 5400 and built.job["segments"] == 1
    assert built.job["stop_after_s"] < 5400
    assert info.cpu == 12.0 and info.memory_mib == 80 * 1024 and info.max_retries == 0
    assert {path: mount.name for path, mount in info.volumes.items()} == {VOLUME_PATH: "team-runs"}
    assert [_impl(s)._name for s in _impl(built.function)._spec.secrets] == ["HF_TOKEN"]
    app = _impl(built.app)
    assert app.name == f"tp-{RUN_ID}"
    assert app._local_state.tags == {"tuneplan-owner": "alice", "tuneplan-host": "lab-1a2b3c", TAG_RUN: RUN_ID}
    commands, files = image_layers(built.image)
    wanted = [line for line in (ROOT / "templates" / "requirements-sft.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert commands[0].startswith("FROM python:3.") and "slim" in commands[0]
    assert commands[-1] == "RUN python -m pip install " + " ".join(sorted(wanted))
    assert files == [(str(bundle.tarball), BUNDLE_PATH)]
    assert built.job["bundle_sha256"] == bundle.sha256 and built.job["run_folder"] == f"tp-{RUN_ID}"


def test_a_cpu_smoke_run_asks_for_no_gpu(tmp_path):
    built = build_app(_smoke_bundle(tmp_path), _plan(gpu="cpu", gpus=0, secrets=()), ModalSettings())
    info = built.function.info()
    assert info.gpus == [] and info.cpu == 1.0 and info.secrets == []
    commands, _ = image_layers(built.image)
    assert not any("python -m pip install" in c for c in commands), "the smoke template needs the stdlib only"


def test_canonical_names_translate_through_the_catalog():
    assert modal_gpu("H100", 1) == "H100"
    assert modal_gpu("A100", 2) == "A100-40GB:2"  # canonical A100 is the 40 GB card
    assert modal_gpu("A100-80GB", 8) == "A100-80GB:8"
    assert modal_gpu("A10", 4) == "A10:4"
    assert modal_gpu("cpu", 0) is None
    with pytest.raises(BadInput, match="Modal does not offer H100-PCIe"):
        modal_gpu("H100-PCIe", 1)
    with pytest.raises(BadInput, match="1 to 4 A10"):
        modal_gpu("A10", 5)


def test_the_allow_list_rejects_unknown_names_with_a_suggestion():
    assert check_modal_gpu("h100:2") == ("H100", 2)
    with pytest.raises(BadInput, match="'H100s' is not a Modal GPU \\(did you mean 'H100'"):
        check_modal_gpu("H100s")
    with pytest.raises(BadInput, match="did you mean 'A100-80GB'"):
        check_modal_gpu("A100-80G")
    with pytest.raises(BadInput, match="not a whole number"):
        check_modal_gpu("L4:two")


def test_a_job_longer_than_24_hours_is_planned_as_checkpointed_segments(tmp_path):
    total = 60 * 3600
    plan = plan_segments(total)
    assert plan.count == 3 and plan.timeout_s <= MODAL_MAX_TIMEOUT_S
    assert plan.count * plan.timeout_s <= total and plan.stop_after_s < plan.timeout_s
    assert plan_segments(MODAL_MAX_TIMEOUT_S).count == 1 and plan_segments(MODAL_MAX_TIMEOUT_S + 1).count == 2
    built = build_app(_sft_like_bundle(tmp_path), _plan(max_runtime_s=30 * 3600), ModalSettings())
    assert built.function.info().timeout == 15 * 3600 and built.job["segments"] == 2
    assert built.job_for(1)["segment"] == 1


def test_the_function_body_runs_locally_and_produces_a_verified_adapter(tmp_path, monkeypatch):
    bundle = _smoke_bundle(tmp_path)
    built = build_app(bundle, _plan(gpu="cpu", gpus=0, secrets=()), ModalSettings())
    container = tmp_path / "container"
    (container / BUNDLE_PATH.lstrip("/")).parent.mkdir(parents=True)
    shutil.copyfile(bundle.tarball, container / BUNDLE_PATH.lstrip("/"))
    monkeypatch.setenv("TUNEPLAN_CONTAINER_ROOT", str(container))
    result = built.function.local(local_job(built))
    assert result["state"] == "succeeded" and result["exit_code"] == 0, result
    out = container / VOLUME_PATH.lstrip("/") / f"tp-{RUN_ID}" / "work" / bundle.output_dir
    assert verify_dir(out).ok and (out / "smoke.txt").is_file()
    log = "".join(part.read_text() for part in sorted((out.parents[1] / "log").glob("part-*")))
    assert 'TUNEPLAN_DONE {"ok": true}' in log
    assert json.loads((out.parents[1] / "segment-0.json").read_text())["state"] == "succeeded"


def test_the_body_refuses_a_bundle_that_changed(tmp_path, monkeypatch):
    bundle = _smoke_bundle(tmp_path)
    built = build_app(bundle, _plan(gpu="cpu", gpus=0, secrets=()), ModalSettings())
    container = tmp_path / "container"
    (container / "tuneplan").mkdir(parents=True)
    (container / BUNDLE_PATH.lstrip("/")).write_bytes(bundle.tarball.read_bytes()[:-10])
    monkeypatch.setenv("TUNEPLAN_CONTAINER_ROOT", str(container))
    result = built.function.local(local_job(built))
    assert result["state"] == "failed" and "sha256" in result["error"]


def test_a_run_longer_than_one_call_continues_in_new_calls_from_the_checkpoint(modal_harness):
    harness, fake = modal_harness(cap_s=2)
    run_id = harness.run_id("long")
    handle = harness.launch(harness.bundle(run_id, steps=9, step_seconds=0.3), harness.plan(run_id, max_runtime_s=8))
    assert handle.data["segments"] == 4
    status = harness.wait(handle, timeout_s=20)
    assert status.state == RunState.SUCCEEDED, status
    tags = fake.apps[handle.resource_id]["tags"]
    assert int(tags["tuneplan-segment"]) >= 1 and len(fake.calls) >= 2
    log = "\n".join(harness.provider.logs(handle))
    assert "resuming from" in log and 'TUNEPLAN_DONE {"ok": true}' in log
    harness.provider.fetch_artifacts(handle, harness.tmp / "long-out")
    metrics = json.loads((harness.tmp / "long-out" / "metrics.json").read_text())
    assert metrics["resumed_from"] and metrics["train"]["steps"] == 9


def test_a_truncated_download_is_detected_and_fetched_again(modal_harness, tmp_path):
    harness, fake = modal_harness()
    run_id = harness.run_id("trunc")
    handle = harness.launch(harness.bundle(run_id, steps=2), harness.plan(run_id))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    fake.truncate["/smoke.txt"] = 1
    harness.provider.fetch_artifacts(handle, tmp_path / "once")
    assert verify_dir(tmp_path / "once").ok
    assert sum(path.endswith("/smoke.txt") for path in fake.reads) == 2
    fake.truncate["/smoke.txt"] = 10
    with pytest.raises(TransientProviderError, match="truncated download"):
        harness.provider.fetch_artifacts(handle, tmp_path / "never")


def _hour(h: int) -> datetime:
    return datetime(2026, 11, 26, h, tzinfo=timezone.utc)


def test_billed_cost_is_modals_report_only_once_it_covers_the_runs_last_hour(modal_harness):
    import modal
    import modal.exception

    now = [_hour(10).timestamp() + 10 * 60]                      # launched 10:10 UTC
    harness, fake = modal_harness(clock=lambda: now[0])
    run_id = harness.run_id("bill")
    handle = harness.launch(harness.bundle(run_id, steps=2, step_seconds=0.1), harness.plan(run_id))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    assert harness.provider.billed_cost(handle) is None, "the App still runs: no bill can be complete"
    now[0] = _hour(11).timestamp() + 20 * 60                     # torn down 11:20
    harness.provider.teardown(handle)
    fake.billing_rows = [(_hour(10), "0.5000", run_id), (_hour(11), "0.1700", run_id), (_hour(10), "9", "someone-else")]
    now[0] = _hour(11).timestamp() + 50 * 60
    # what the report says now: the 10:00 hour only (11:00 is not over), a short bill that must not be recorded
    short = modal.Workspace.from_context().billing.report(start=_hour(10), end=_hour(12), resolution="h",
                                                          tag_names=[TAG_RUN])
    assert [(row.interval_start, row.tags[TAG_RUN]) for row in short] == [(_hour(10), run_id), (_hour(10), "someone-else")]
    assert harness.provider.billed_cost(handle) is None
    now[0] = _hour(12).timestamp() + 50 * 60                     # 11:00 is published, but within the assumed lag
    assert harness.provider.billed_cost(handle) is None
    now[0] = _hour(13).timestamp()
    assert harness.provider.billed_cost(handle) == Decimal("0.670000")
    harness.provider.teardown(handle)                            # a second teardown keeps the first end time
    assert harness.provider.billed_cost(handle) == Decimal("0.670000")
    from providers.modal.provider import ModalProvider

    elsewhere = ModalProvider(ModalSettings(), clock=lambda: now[0])
    assert elsewhere.billed_cost(handle) is None, "a process that did not stop the App does not know when it ended"
    torn_down = datetime.fromtimestamp(_hour(11).timestamp() + 20 * 60, timezone.utc)  # the ledger's torn_down_at
    assert elsewhere.billed_cost(handle, ended_at=torn_down) == Decimal("0.670000")  # what `tuneplan bills` asks
    fake.billing_error = modal.exception.PermissionDeniedError("billing reports need the Team plan")
    assert harness.provider.billed_cost(handle) is None, "no report: no bill, never our own arithmetic"


def test_missing_folders_and_volumes_read_as_gone_so_teardown_is_idempotent(modal_harness, tmp_path):
    import modal
    import modal.exception

    harness, fake = modal_harness()
    run_id = harness.run_id("gone")
    handle = harness.launch(harness.bundle(run_id, steps=2), harness.plan(run_id))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    harness.provider.fetch_artifacts(handle, tmp_path / "pulled")  # pulled here, so the teardown may delete them
    harness.provider.teardown(handle)
    with pytest.raises(modal.exception.NotFoundError):           # what the SDK's listdir raises (not converted)
        modal.Volume.from_name("tuneplan-runs").listdir(f"tp-{run_id}", recursive=True)
    harness.provider.teardown(handle)
    with pytest.raises(ProviderError, match="no outputs"):
        harness.provider.fetch_artifacts(handle, tmp_path / "gone")
    assert list(harness.provider.logs(handle)) == []
    from providers.modal.provider import ModalProvider

    never_made = ModalProvider(ModalSettings(volume="never-created"))
    with pytest.raises(modal.exception.NotFoundError):           # a missing Volume fails its lookup first
        modal.Volume.from_name("never-created").remove_file("tp-x", recursive=True)
    ghost = RunHandle("modal", "ghost-20261115-120000-dead", "tp-ghost-20261115-120000-dead", {"volume": "never-created"})
    never_made.teardown(ghost)
    assert never_made.status(ghost).exists is False
    with pytest.raises(ProviderError, match="no outputs"):
        never_made.fetch_artifacts(ghost, tmp_path / "ghost")


def test_an_owner_that_modal_tags_cannot_hold_still_owns_its_apps(modal_harness, tmp_path):
    from remote_jobs import reap
    from tests.contract.harness import HOST

    harness, fake = modal_harness()
    run_id = harness.run_id("owner")
    owner = "Alice Smith@corp.example"
    harness.launch(harness.bundle(run_id, steps=50, step_seconds=0.1), replace(harness.plan(run_id), owner=owner))
    stored = fake.apps[f"tp-{run_id}"]["tags"]["tuneplan-owner"]
    assert stored == "Alice-Smith-corp.example"                  # the SDK refuses '@' and ' ' in tag values
    clock = FakeClock()
    items = reap.survey(Ledger(tmp_path / "ledger.sqlite3", clock), [harness.provider], owner, HOST, False, clock)
    assert [(item.run_id, item.verdict) for item in items] == [(run_id, "orphan")], items
    others = reap.survey(Ledger(tmp_path / "ledger.sqlite3", clock), [harness.provider], "bob", HOST, False, clock)
    assert [item.verdict for item in others] == ["foreign"]


def _segment_ended(harness, fake):
    """A 4-segment run whose first call has used up its time, nobody having asked about it yet."""
    run_id = harness.run_id("race")
    handle = harness.launch(harness.bundle(run_id, steps=9, step_seconds=0.3), harness.plan(run_id, max_runtime_s=8))
    import modal.exception

    call = fake.calls[handle.data["call_id"]]
    assert handle.data["segments"] == 4 and call.done.wait(30)
    # Its time is up one of two ways, both "stopped" to the provider: the segment stopped its job itself, or (on a
    # loaded machine, where the container starts slowly) Modal's function timeout ended it first.
    assert (call.result or {}).get("state") == "stopped" or isinstance(call.error, modal.exception.FunctionTimeoutError)
    return handle


def test_a_second_watcher_follows_the_segment_another_one_spawned(modal_harness):
    from providers.modal.provider import ModalProvider

    harness, fake = modal_harness(cap_s=2)
    handle = _segment_ended(harness, fake)
    other = ModalProvider(ModalSettings(), cap_s=2)              # `tuneplan watch` in another terminal
    fake.after_tags_read = lambda: other.status(handle)          # it spawns right after our first read of the tags
    status = harness.provider.status(handle)
    tags = fake.apps[handle.resource_id]["tags"]
    assert len(fake.calls) == 2 and tags["tuneplan-segment"] == "1", "one next segment, not one per watcher"
    assert "segment 2 of 4" in status.message and status.state in (RunState.PROVISIONING, RunState.RUNNING)
    assert harness.wait(handle, timeout_s=20).state == RunState.SUCCEEDED
    assert len({call.call_id for call in fake.calls.values()}) == len(fake.calls) <= 4


def test_a_watcher_whose_tag_write_was_overwritten_cancels_its_own_segment(modal_harness):
    import modal
    import modal.exception

    from providers.modal.app import FUNCTION_NAME

    harness, fake = modal_harness(cap_s=2)
    handle = _segment_ended(harness, fake)
    theirs = []

    def another_client_writes_after_us():
        call = modal.Function.from_name(handle.resource_id, FUNCTION_NAME).spawn({**handle.data["job"], "segment": 1})
        theirs.append(call.object_id)
        app = modal.App.lookup(handle.resource_id)
        app.set_tags({**app.get_tags(), "tuneplan-call": call.object_id, "tuneplan-segment": "1"})

    fake.after_tags_write = another_client_writes_after_us
    harness.provider.status(handle)
    ours = [c for c in fake.calls if c not in (handle.data["call_id"], *theirs)]
    assert len(ours) == 1 and isinstance(fake.calls[ours[0]].error, modal.exception.RemoteError)
    assert "cancelled" in str(fake.calls[ours[0]].error)
    assert fake.apps[handle.resource_id]["tags"]["tuneplan-call"] == theirs[0]
    assert harness.wait(handle, timeout_s=20).state == RunState.SUCCEEDED


def test_the_lifecycle_runs_end_to_end_on_the_fake_modal_edge(modal_harness, tmp_path):
    harness, fake = modal_harness()
    clock = FakeClock()
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock)
    record = run_lifecycle(smoke_spec(steps=3, step_seconds=0.05), harness.provider, ledger, clock, tmp_path / "runs")
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    assert record.provider == "modal" and record.gpu == "cpu" and record.torn_down_at is not None
    assert record.billed_usd is None, "the report cannot hold the run's last hour at teardown: no bill yet"
    assert {a["path"] for a in record.artifacts} >= {"artifacts/smoke.txt", "artifacts/metrics.json"}
    assert not any(app["live"] for app in fake.apps.values()) and harness.provider.list_resources() == []
    assert not (fake.volume_dir("tuneplan-runs") / f"tp-{record.run_id}").exists()


def test_check_says_how_to_log_in(tmp_path, monkeypatch):
    from providers.modal import make_provider

    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "missing.toml"))
    provider = make_provider(settings=ModalSettings())
    result = provider.check()
    assert not result.ok and "modal token new" in result.fix
    (tmp_path / "modal.toml").write_text('[default]\ntoken_id = "ak-x"\ntoken_secret = "as-very-secret"\n')
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "modal.toml"))
    result = provider.check()
    assert result.ok and "as-very-secret" not in result.message
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "missing.toml"))
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-y")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-other-secret")
    assert provider.check().ok and "as-other-secret" not in provider.check().message


def test_offers_are_dated_and_include_cpu_and_memory():
    from providers.modal import make_provider

    offers = make_provider(settings=ModalSettings()).offers()
    h100 = next(o for o in offers if o.gpu == "H100" and o.gpus == 1)
    assert h100.usd_per_hour > Decimal("3.9492")  # GPU price + the CPU and memory Modal bills beside it
    assert any(o.gpu == "cpu" for o in offers) and all(o.source and o.as_of for o in offers)


def test_the_package_does_not_shadow_the_sdk_or_the_price_reader():
    import subprocess
    import sys

    code = ("import sys, providers.modal, providers.modal.remote_job; assert 'modal' not in sys.modules; "
            "from providers.modal_prices import rows_from_page; import modal; assert hasattr(modal, 'App'); "
            "assert modal.__file__.endswith('site-packages/modal/__init__.py'), modal.__file__")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _has_token() -> bool:
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return True
    return (Path.home() / ".modal.toml").is_file()


@pytest.mark.online
@pytest.mark.skipif(not _has_token(), reason="needs a Modal token (modal token new)")
def test_online_smoke_run_on_modal(tmp_path):
    """A real CPU smoke run on Modal: deploy, spawn, watch, pull, verify, teardown (costs about a cent)."""
    from providers.modal import make_provider

    clock = FakeClock(speed=1.0)
    provider = make_provider(settings=ModalSettings(volume="tuneplan-test-runs"))
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock)
    started = time.monotonic()
    record = run_lifecycle(smoke_spec(name="online", steps=3), provider, ledger, clock, tmp_path / "runs",
                           poll_s=2.0)
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    assert record.torn_down_at is not None and time.monotonic() - started < 900
