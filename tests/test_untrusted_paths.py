"""File names from outside never escape their folder, and no link is followed (issue: nothing from outside can
escape its folder). Manifest entries such as ``../bundle/job.json`` or ``/etc/os-release`` used to be
accepted and recorded as artifacts; a Modal listing with ``..`` wrote outside the destination; a RunPod
checksum listing naming ``/etc/passwd`` hashed the local file and called it verified."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.types import RunState
from remote_jobs.artifacts import verify_dir
from tests.hostile_jobs import run_script

HOSTILE_NAMES = ["../bundle/job.json", "/etc/os-release", "../../x", "a/../../b", "a\\..\\b", "a\x00b", "", ".",
                 "./", "a\nb", "~/.ssh/id_rsa/" + "../" * 3, "x" * 300]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_path_check_refuses_names_that_leave_the_folder(name):
    from providers.safe_paths import UnsafePath, checked_relpath

    with pytest.raises(UnsafePath):
        checked_relpath(name)


def test_the_path_check_keeps_plain_relative_names():
    from providers.safe_paths import checked_relpath

    assert checked_relpath("adapter/adapter_model.safetensors") == "adapter/adapter_model.safetensors"
    assert checked_relpath("./checkpoints//checkpoint-5/") == "checkpoints/checkpoint-5"
    assert checked_relpath("...hidden/..x") == "...hidden/..x"


def test_no_symlink_on_the_way_is_followed(tmp_path):
    from providers.safe_paths import UnsafePath, inside, regular_files

    (tmp_path / "outside").mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(tmp_path / "outside")
    (root / "file").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePath, match="symlink"):
        inside(root, "sub/new.txt")
    with pytest.raises(UnsafePath, match="symlink"):
        inside(root, "file")
    others = []
    assert list(regular_files(root, lambda name, kind: others.append((name, kind)))) == []
    assert sorted(others) == [("file", "a symlink"), ("sub", "a symlink")]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_name_is_either_a_clean_relative_path_or_refused(name):
    from providers.safe_paths import UnsafePath, checked_relpath

    try:
        rel = checked_relpath(name)
    except UnsafePath:
        return
    parts = rel.split("/")
    assert ".." not in parts and "" not in parts and "." not in parts and not rel.startswith("/")
    assert "\\" not in rel and not any(ord(c) < 32 for c in rel)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="./ab\\\x00", max_size=12), max_size=4))
def test_inside_never_points_outside_its_root(tmp_path_factory, parts):
    from providers.safe_paths import UnsafePath, inside

    root = tmp_path_factory.mktemp("root")
    try:
        target = inside(root, "/".join(parts))
    except UnsafePath:
        return
    assert target.resolve().is_relative_to(root.resolve())


MANIFEST_ITEMS = st.one_of(
    st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries({}, optional={"path": st.one_of(st.text(max_size=30), st.integers(), st.none()),
                                        "bytes": st.one_of(st.integers(-5, 10**12), st.text(max_size=5), st.booleans()),
                                        "sha256": st.one_of(st.text(max_size=64), st.none())}))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.lists(MANIFEST_ITEMS, max_size=5),
                 st.fixed_dictionaries({"complete": st.one_of(st.just(True), st.booleans(), st.none()),
                                        "files": st.one_of(st.lists(MANIFEST_ITEMS, max_size=6), st.text(max_size=5))})))
def test_any_manifest_gives_a_verdict_and_never_reads_outside(tmp_path_factory, manifest):
    folder = tmp_path_factory.mktemp("fetched")
    (folder / "a.txt").write_bytes(b"a")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = verify_dir(folder)
    assert isinstance(result.ok, bool)
    for entry in result.files:
        assert (folder / entry["path"]).resolve().is_relative_to(folder.resolve())


def test_a_manifest_naming_files_outside_its_folder_fails_the_run_and_records_nothing(tmp_path):
    script = '''
put("adapter.bin", b"weights")
manifest([entry("adapter.bin"), entry("../job.py", "job.py"), entry("/etc/os-release", "/etc/os-release"),
          {"path": "../../x", "bytes": 1, "sha256": "0" * 64}])
'''
    record, _ = run_script(tmp_path, script)
    assert record.state == RunState.FAILED and "artifacts did not verify" in record.failure_reason
    assert "leaves the folder" in record.failure_reason
    assert record.artifacts == [] and record.torn_down_at is not None
    assert not (tmp_path / "runs" / record.run_id / "artifacts").exists()


def test_a_symlink_the_job_leaves_in_its_outputs_is_never_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    script = f'''
put("adapter.bin", b"weights")
os.symlink({str(secret)!r}, "out/leak.txt")
os.symlink("/etc", "out/etc")
manifest([entry("adapter.bin"), entry("leak.txt", {str(secret)!r})])
'''
    record, _ = run_script(tmp_path, script)
    assert record.state == RunState.FAILED and "leak.txt: missing" in record.failure_reason
    fetched = list((tmp_path / "runs" / record.run_id).rglob("*"))
    assert not any(p.is_symlink() for p in fetched) and not any(p.name in ("leak.txt", "passwd") for p in fetched)


def test_a_modal_listing_that_leaves_its_folder_is_refused_before_anything_is_written(tmp_path):
    from modal.types import FileEntry, FileEntryType

    from providers.modal import volume_io
    from providers.safe_paths import UnsafePath

    class Volume:  # what Volume.listdir / read_file return (modal.types.FileEntry, byte chunks)
        def listdir(self, path, recursive=False):
            return [FileEntry("tp-run/work/out/a.txt", FileEntryType.FILE, 0, 1),
                    FileEntry("tp-run/work/out/../../../escape.txt", FileEntryType.FILE, 0, 1)]

        def read_file(self, path):
            yield b"x"

    dest = tmp_path / "dest" / "partial"
    with pytest.raises(UnsafePath, match="leaves the folder"):
        volume_io.download_outputs(Volume(), "tp-run/work/out", dest, False)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "dest" / "escape.txt").exists()

    class Elsewhere(Volume):
        def listdir(self, path, recursive=False):
            return [FileEntry("other-run/secret.txt", FileEntryType.FILE, 0, 1)]

    with pytest.raises(UnsafePath, match="outside"):
        volume_io.download_outputs(Elsewhere(), "tp-run/work/out", tmp_path / "dest2", False)


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


def _pod_tool(fake, name: str, script: str) -> None:
    """Replace a tool in the fake pod's image (its PATH starts there): a pod that lies about its files."""
    path = fake.bin / name
    path.write_text("#!/bin/bash\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_a_pod_listing_naming_a_local_file_is_refused_not_hashed(runpod, tmp_path):
    from dataclasses import replace

    from providers.safe_paths import UnsafePath

    fake, harness = runpod
    passwd_sha = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    run_id = harness.run_id("lies")
    handle = harness.launch(harness.script_bundle(run_id, "import pathlib\npathlib.Path('out').mkdir()\n"
                                                          "pathlib.Path('out/a.txt').write_text('a')\n"),
                            replace(harness.plan(run_id), gpu="RTX4090", gpus=1))
    assert harness.wait(handle).state == RunState.SUCCEEDED
    _pod_tool(fake, "sha256sum", f'/usr/bin/sha256sum "$@"; echo "{passwd_sha}  /etc/passwd"\n')
    with pytest.raises(UnsafePath, match="absolute"):
        harness.provider.fetch_artifacts(handle, tmp_path / "got")
    _pod_tool(fake, "sha256sum", '/usr/bin/sha256sum "$@"\n')
    _pod_tool(fake, "find", "printf '1 ../../escape.txt\\0'\n")
    with pytest.raises(UnsafePath, match="leaves the folder"):
        harness.provider.fetch_artifacts(handle, tmp_path / "got2")
    assert not (tmp_path / "escape.txt").exists()


def test_fetched_files_and_folders_are_private(tmp_path):
    record, _ = run_script(tmp_path, 'put("adapter/a.bin", b"w")\nmanifest([entry("adapter/a.bin")])\n')
    assert record.state == RunState.SUCCEEDED
    folder = tmp_path / "runs" / record.run_id / "artifacts"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert os.path.getsize(folder / "adapter" / "a.bin") == 1
