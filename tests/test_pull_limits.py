"""Pulls have limits (issue: nothing from outside can crash a run): a byte cap from the manifest's sizes plus a
margin and the ``pulls`` settings, a total deadline across retries, files streamed into the run folder, and a
pull that hits a limit fails the run clearly and still tears down. SkyPilot's bucket pulls run as argument
lists, so a space or a ``;`` in the destination is only part of a path."""

from __future__ import annotations

import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest

from providers.types import RunState
from tests.hostile_jobs import run_script

SPARSE_4_GIB = '''
put("adapter.bin", b"weights")
with open("out/blob.bin", "wb") as f:   # 4 GiB that take no disk: reading them is what costs
    f.truncate(4 << 30)
manifest([entry("adapter.bin")])
'''


def test_a_sparse_file_far_beyond_the_manifest_fails_the_run_and_it_is_torn_down(tmp_path):
    started = time.monotonic()
    record, _ = run_script(tmp_path, SPARSE_4_GIB)
    assert record.state == RunState.FAILED and "PullLimitExceeded" in record.failure_reason
    assert "blob.bin is 4.00 GiB" in record.failure_reason
    assert record.torn_down_at is not None and record.artifacts == []
    assert not any(p.name == "blob.bin" for p in (tmp_path / "runs").rglob("*"))
    print(f"refused in {time.monotonic() - started:.1f} s")  # no hash pass over 4 GiB


def test_a_file_larger_than_its_manifest_entry_is_not_copied(tmp_path):
    script = '''
put("adapter.bin", b"w")
manifest([entry("adapter.bin")])
put("adapter.bin", b"w" * (40 << 20))    # grew after the manifest was written
'''
    record, _ = run_script(tmp_path, script)
    assert record.state == RunState.FAILED and "PullLimitExceeded" in record.failure_reason
    assert record.torn_down_at is not None


def test_the_pull_cap_setting_holds_even_for_an_honest_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEPLAN_PULLS__MAX_GIB", "0.001")  # about 1 MiB
    record, _ = run_script(tmp_path, 'put("big.bin", os.urandom(3 << 20))\nmanifest([entry("big.bin")])\n')
    assert record.state == RunState.FAILED and "pulls.max_gib" in record.failure_reason
    assert record.torn_down_at is not None


def test_limits_from_the_manifest_are_its_sizes_plus_a_margin():
    from providers.pull_limits import PullLimits

    limits = PullLimits(10 << 30, 60).for_manifest({"files": [{"bytes": 100 << 20}, {"bytes": 50 << 20}]})
    assert limits.max_bytes == int((150 << 20) * 1.1) + (16 << 20)
    assert PullLimits(1 << 20, 60).for_manifest({"files": [{"bytes": 100 << 20}]}).max_bytes == 1 << 20
    for hostile in (None, [], {"files": [{"bytes": -1}]}, {"files": [{"bytes": "9"}]}, {"files": [{"bytes": True}]}):
        assert PullLimits(7, 60).for_manifest(hostile).max_bytes == 7


def test_a_deadline_once_started_holds_across_retries():
    from providers.pull_limits import PullLimitExceeded, PullLimits

    limits = PullLimits(1 << 30, 0.2).started()
    time.sleep(0.3)
    budget = limits.start()  # a retry: no fresh clock
    with pytest.raises(PullLimitExceeded, match="within"):
        budget.take(1)


@pytest.fixture
def runpod(tmp_path):
    from tests.contract.harness import Harness
    from tests.contract.harness_runpod import fast_provider
    from tests.fake_runpod import FakeRunpod

    fake = FakeRunpod(tmp_path / "fake-runpod")
    fake.start()
    harness = Harness(fast_provider(fake, tmp_path), tmp_path)
    yield fake, harness
    harness.cleanup()
    fake.stop()


def _finished_pod_run(harness, script: str):
    run_id = harness.run_id("pull")
    handle = harness.launch(harness.script_bundle(run_id, script), replace(harness.plan(run_id), gpu="RTX4090", gpus=1))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    return handle


def test_a_pod_pull_refuses_a_sparse_giant_before_reading_it(runpod, tmp_path):
    from providers.pull_limits import PullLimitExceeded

    _, harness = runpod
    handle = _finished_pod_run(harness, "import json, pathlib\nout = pathlib.Path('out'); out.mkdir()\n"
                                        "(out / 'a.txt').write_text('a')\n"
                                        "with open('out/blob.bin', 'wb') as f:\n    f.truncate(4 << 30)\n"
                                        "(out / 'manifest.json').write_text(json.dumps({'files': [{'path': 'a.txt', "
                                        "'bytes': 1, 'sha256': 'x'}], 'complete': True}))\n")
    with pytest.raises(PullLimitExceeded, match="4.00 GiB"):
        harness.provider.fetch_artifacts(handle, tmp_path / "got")
    assert not (tmp_path / "got" / "blob.bin").exists()


def test_a_pod_that_trickles_its_bytes_hits_the_total_deadline(runpod, tmp_path):
    from providers.pull_limits import PullLimitExceeded, PullLimits

    fake, harness = runpod
    handle = _finished_pod_run(harness, "import pathlib\nout = pathlib.Path('out'); out.mkdir()\n"
                                        "(out / 'a.txt').write_text('a' * 100)\n")
    slow_cat = fake.bin / "cat"
    slow_cat.write_text("#!/bin/bash\nwhile true; do printf x; sleep 0.2; done\n")  # each read is quick; it never ends
    slow_cat.chmod(slow_cat.stat().st_mode | stat.S_IXUSR)
    started = time.monotonic()
    with pytest.raises(PullLimitExceeded):
        harness.provider.fetch_artifacts(handle, tmp_path / "got", False, PullLimits(1 << 30, 1.5).started())
    assert time.monotonic() - started < 30
    assert not (tmp_path / "got" / "a.txt").exists(), "a file cut short by a limit is removed"


def test_a_bucket_pull_into_a_path_with_a_space_and_a_semicolon_copies_and_runs_nothing(tmp_path, monkeypatch):
    import os

    from tests.contract.harness import Harness
    from tests.contract.harness_skypilot import make_provider
    from tests.test_skypilot_sdk_edges import spot_plan

    provider, fake = make_provider(tmp_path)
    monkeypatch.setenv("PATH", f"{fake.root / 'bin'}:{os.environ['PATH']}")
    harness = Harness(provider, tmp_path)
    plan = spot_plan(harness, "spaced")
    handle = harness.launch(harness.bundle(plan.run_id, steps=2), plan)
    assert harness.wait(handle, timeout_s=30).state == RunState.SUCCEEDED
    dest = tmp_path / "Application Support" / "x;touch pwned;" / "partial"
    monkeypatch.chdir(tmp_path)
    copied = provider.fetch_artifacts(handle, dest)
    assert "manifest.json" in copied and (dest / "manifest.json").is_file()
    assert not list(Path(tmp_path).rglob("pwned"))
    harness.cleanup()


def test_bucket_pull_commands_are_argument_lists():
    from providers.skypilot.fetch import bucket_sync_command

    dest = Path("/Users/ana/Library/Application Support/tuneplan/runs/x; rm -rf ~")
    command, env = bucket_sync_command("s3://bucket/tuneplan/tp-x", dest)
    assert command == ["aws", "s3", "sync", "--no-follow-symlinks", "--only-show-errors", "--exclude", "checkpoints/*",
                       "s3://bucket/tuneplan/tp-x", str(dest)] and env == {}
    assert "--exclude" not in bucket_sync_command("s3://bucket/x", dest, include_checkpoints=True)[0]
    assert bucket_sync_command("gs://b/p", dest)[0][-1] == str(dest)
