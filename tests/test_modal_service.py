"""The Modal launcher where the real service is less kind than a simple fake: connections that drop while a
call is polled, containers Modal restarts on the same input, and Volume writes that show only once the
container commits them. Each test reproduces the service's behaviour in the fake (``harness_modal``) first."""

from __future__ import annotations

import shutil

import pytest

from providers.modal.app import BUNDLE_PATH, build_app, local_job
from providers.settings import ModalSettings
from providers.types import RunState
from tests.test_modal import _plan, _smoke_bundle


def test_a_dropped_connection_while_polling_is_not_a_failed_run(modal_harness):
    """``FunctionCall.get`` can raise grpclib's StreamTerminatedError, ClientClosed or Modal's RPC timeout
    when the connection drops: that says nothing about the run, which used to be recorded as failed."""
    import grpclib.exceptions
    import modal.exception

    from providers.types import TransientProviderError

    harness, fake = modal_harness()
    run_id = harness.run_id("hiccup")
    handle = harness.launch(harness.bundle(run_id, steps=20, step_seconds=0.1), harness.plan(run_id))
    for fault in (grpclib.exceptions.StreamTerminatedError("Connection lost"), modal.exception.ClientClosed(),
                  modal.exception.TimeoutError("deadline exceeded"), ConnectionResetError(104, "reset")):
        fake.get_faults.append(fault)
        with pytest.raises(TransientProviderError, match="asking again"):
            harness.provider.status(handle)
    assert harness.wait(handle, timeout_s=30).state == RunState.SUCCEEDED


def test_a_restarted_segment_keeps_the_launch_deadline_and_is_given_up_after_a_few_starts(tmp_path, monkeypatch):
    """Modal runs a preempted or crashed input again in a fresh container; each start used to get a fresh
    clock (``stop_at`` from its own start), so the runtime limit was no hard cap and a crash loop never ended."""
    import time as clock

    from providers.modal.remote_job import MAX_STARTS

    bundle = _smoke_bundle(tmp_path)
    built = build_app(bundle, _plan(gpu="cpu", gpus=0, secrets=()), ModalSettings())
    container = tmp_path / "container"
    (container / BUNDLE_PATH.lstrip("/")).parent.mkdir(parents=True)
    shutil.copyfile(bundle.tarball, container / BUNDLE_PATH.lstrip("/"))
    monkeypatch.setenv("TUNEPLAN_CONTAINER_ROOT", str(container))
    assert built.job["deadline_at"] <= clock.time() + _plan().max_runtime_s
    late = built.function.local({**local_job(built), "deadline_at": clock.time() - 1})
    assert late["state"] == "stopped" and "hard runtime limit" in late["error"]
    results = [built.function.local(local_job(built)) for _ in range(MAX_STARTS - 1)]  # starts 2 .. MAX_STARTS
    assert all(r["state"] == "succeeded" for r in results), results
    given_up = built.function.local(local_job(built))
    assert given_up["state"] == "failed" and f"{MAX_STARTS + 1} times" in given_up["error"]


def test_outputs_not_yet_committed_are_waited_for_and_never_deleted_unread(modal_harness, tmp_path):
    """A container commits its Volume writes as it shuts down, after the call returned: a pull right then
    found no manifest, the run was marked failed and teardown deleted the outputs it had never read."""
    harness, fake = modal_harness()
    run_id = harness.run_id("commit")
    handle = harness.launch(harness.bundle(run_id, steps=2), harness.plan(run_id))
    assert harness.wait(handle, timeout_s=30).state == RunState.SUCCEEDED
    fake.uncommitted_reads = 2
    copied = harness.provider.fetch_artifacts(handle, tmp_path / "got")
    assert "manifest.json" in copied and (tmp_path / "got" / "manifest.json").is_file()
    from providers.modal.provider import ModalProvider

    other = ModalProvider(ModalSettings())  # `tuneplan down` from another process, which pulled nothing
    other.teardown(handle)
    folder = fake.existing_volume(ModalSettings().volume) / f"tp-{run_id}"
    assert folder.is_dir(), "outputs nobody here has read are kept"
    harness.provider.teardown(handle)
    assert not folder.exists(), "the process that pulled them deletes them"


def test_a_missing_named_secret_is_one_line_with_the_fix(modal_harness, monkeypatch):
    """Deploying resolves each named Secret (``SecretGetOrCreate``); a missing one is Modal's NotFoundError,
    which used to reach the user as a traceback."""
    from dataclasses import replace

    from providers.types import ProviderError

    harness, fake = modal_harness()
    monkeypatch.delenv("TP_MISSING_TOKEN", raising=False)
    run_id = harness.run_id("secret")
    plan = replace(harness.plan(run_id), secrets=("TP_MISSING_TOKEN",))
    with pytest.raises(ProviderError, match="modal secret create TP_MISSING_TOKEN TP_MISSING_TOKEN=<value>"):
        harness.provider.launch(harness.bundle(run_id, steps=1), plan)


def test_the_segment_commits_its_volume_before_it_returns_in_a_modal_container(modal_harness, tmp_path, monkeypatch):
    """Without ``Volume.commit()`` the container's writes show only at its shutdown, after the call returned."""
    harness, fake = modal_harness()
    bundle = _smoke_bundle(tmp_path)
    built = build_app(bundle, _plan(gpu="cpu", gpus=0, secrets=()), ModalSettings(volume="team-runs"))
    container = tmp_path / "container"
    (container / BUNDLE_PATH.lstrip("/")).parent.mkdir(parents=True)
    shutil.copyfile(bundle.tarball, container / BUNDLE_PATH.lstrip("/"))
    monkeypatch.setenv("TUNEPLAN_CONTAINER_ROOT", str(container))
    assert built.function.local(local_job(built))["state"] == "succeeded"
    assert fake.commits == [], "outside a Modal container there is nothing to commit"
    monkeypatch.setenv("MODAL_TASK_ID", "ta-fake")  # what Modal sets in its containers
    assert built.function.local(local_job(built))["state"] == "succeeded"
    assert fake.commits == ["team-runs"]


def test_a_long_log_is_read_in_parts_never_whole_again(modal_harness, monkeypatch):
    """Issue 23 item 14: the SDK reads a Volume file only whole, so a poller that re-read ``run.log`` downloaded
    the whole log every poll. The container writes it in parts; a tail reads the last parts, a follow the parts
    after what it has seen, and the parts together are the log in order."""
    harness, fake = modal_harness()
    fake.container_prelude = "remote_job.LOG_PART_BYTES = 300\n"  # small parts, so a short run has many
    run_id = harness.run_id("parts")
    handle = harness.launch(harness.bundle(run_id, steps=30), harness.plan(run_id))
    assert harness.wait(handle, timeout_s=30).state == RunState.SUCCEEDED
    folder = fake.existing_volume(ModalSettings().volume) / f"tp-{run_id}" / "log"
    parts = sorted(folder.glob("part-*"))
    assert len(parts) > 5 and all(p.stat().st_size <= 300 for p in parts[:-1])
    whole = "".join(p.read_text() for p in parts)
    fake.reads.clear()
    lines = list(harness.provider.logs(handle))
    assert "\n".join(lines) + "\n" == whole and 'TUNEPLAN_DONE {"ok": true}' in lines[-1]
    read_parts = [r for r in fake.reads if "/log/part-" in r]
    assert len(read_parts) == len(parts), "each part read once"
    fake.reads.clear()
    tail = list(harness.provider.logs(handle, tail_bytes=200))
    assert tail and tail[-1] == lines[-1]
    assert len([r for r in fake.reads if "/log/part-" in r]) <= 2, "a tail reads only the last parts"
