"""Bringing a run's artifacts home so that nothing half-written is ever taken for good.

A fetch lands in ``runs/<run id>/.artifacts.partial-<pid>``; only after every file listed in the template's
``manifest.json`` (written last, ``complete: true``) matches its size and sha256 is the folder renamed to
``runs/<run id>/artifacts``. A process killed mid-fetch leaves a ``.partial`` folder that nothing reads and
the next pull removes. A run whose artifacts did not verify is never marked succeeded.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from providers.private_files import private_dir, restrict_tree
from providers.safe_paths import UnsafePath, checked_relpath, inside, regular_files
from remote_jobs.bundle import sha256_file

ARTIFACTS = "artifacts"
CHECKPOINT = "checkpoint"
PARTIAL = ".artifacts.partial-"


@dataclass(frozen=True)
class Verified:
    """The outcome of checking a fetched folder against its manifest."""

    files: list[dict]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_dir(folder: Path) -> Verified:
    """Every listed file present with its size and sha256; nothing unlisted outside checkpoints/.

    The manifest was written on the remote machine: an entry that names a path outside ``folder``
    (``../bundle/job.json``, ``/etc/os-release``) or reaches through a link is a problem, never a file
    that is read, hashed or recorded; so is anything in ``folder`` that is not a plain file."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Verified([], ["manifest.json is missing or unreadable (the job did not finish writing)"])
    if not isinstance(manifest, dict) or manifest.get("complete") is not True:
        return Verified([], ["manifest.json is not marked complete"])
    entries = manifest.get("files")
    if not isinstance(entries, list):
        return Verified([], ["manifest.json lists no files"])
    problems: list[str] = []
    files = [entry for item in entries if (entry := _entry(item, problems))]
    problems += [p for entry in files if (p := _check(folder, entry))]
    listed = {entry["path"] for entry in files} | {"manifest.json"}
    try:
        for rel, _path in regular_files(folder, on_other=lambda name, kind: problems.append(f"{name}: {kind}")):
            if rel not in listed and not rel.startswith("checkpoints/"):
                problems.append(f"{rel}: not in the manifest")
    except UnsafePath as exc:
        problems.append(str(exc))
    return Verified(files, problems)


def _entry(item: object, problems: list[str]) -> dict | None:
    """One manifest entry as {path, bytes, sha256} with a safe path; None (and a problem) otherwise."""
    if not isinstance(item, dict):
        problems.append("manifest.json: an entry that is not an object")
        return None
    try:
        path = checked_relpath(item.get("path"))
    except UnsafePath as exc:
        problems.append(f"manifest.json: {exc}")
        return None
    size, digest = item.get("bytes"), item.get("sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(digest, str):
        problems.append(f"manifest.json: {path}: no size or sha256")
        return None
    return {"path": path, "bytes": size, "sha256": digest}


def _check(folder: Path, entry: dict) -> str | None:
    try:
        path = inside(folder, entry["path"])
    except UnsafePath as exc:
        return str(exc)
    if not path.is_file():
        return f"{entry['path']}: missing"
    if path.stat().st_size != entry["bytes"]:
        return f"{entry['path']}: {path.stat().st_size} bytes, manifest says {entry['bytes']}"
    if sha256_file(path) != entry["sha256"]:
        return f"{entry['path']}: sha256 mismatch"
    return None


def partial_dir(run_dir: Path) -> Path:
    """A fresh folder to fetch into; stale ones from killed processes are removed first."""
    clear_partials(run_dir)
    path = private_dir(run_dir) / f"{PARTIAL}{os.getpid()}"
    path.mkdir(mode=0o700)
    return path


def clear_partials(run_dir: Path) -> None:
    """Remove the partial fetches of processes that are gone (another live ``watch`` may be fetching)."""
    for stale in run_dir.glob(f"{PARTIAL}*"):
        pid = stale.name.removeprefix(PARTIAL)
        if not pid.isdigit() or int(pid) == os.getpid() or not process_running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def promote(partial: Path, run_dir: Path, name: str = ARTIFACTS) -> Path:
    """Move a verified (or, for a checkpoint, a kept) fetch into place (its owner's alone), replacing an
    older copy."""
    restrict_tree(partial)
    target = run_dir / name
    if target.exists():
        old = run_dir / f".{name}.old-{os.getpid()}"
        target.rename(old)
        partial.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        partial.rename(target)
    return target


def already_verified(run_dir: Path, recorded: list[dict]) -> bool:
    """The artifacts folder still holds exactly what the ledger recorded as verified."""
    folder = run_dir / ARTIFACTS
    if not recorded or not folder.is_dir():
        return False
    result = verify_dir(folder)
    return result.ok and {f["sha256"] for f in result.files} == {f.get("sha256") for f in recorded}


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint: one with its ``trainer_state.json`` (written last; a checkpoint copied
    while the job was writing or rotating it may lack it)."""
    found = [p for p in (folder / "checkpoints").glob("checkpoint-*")
             if p.name[11:].isdigit() and (p / "trainer_state.json").is_file()]
    return max(found, key=lambda p: int(p.name[11:])) if found else None
