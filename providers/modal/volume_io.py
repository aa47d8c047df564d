"""Reading a run's folder on the Modal Volume: text files, listings, and artifact downloads that are
checked against the template's manifest.

Modal volume downloads have been seen to end early without an error (a truncated file). So every file the
manifest lists is checked for size and sha256 as it lands, and downloaded again when it does not match;
only after ``DOWNLOAD_ATTEMPTS`` bad copies does the fetch fail. Files outside the manifest (checkpoints,
or the outputs of a run that never wrote one) are copied as they are; ``remote_jobs.artifacts`` decides
later what they are worth.

"Not there" comes back from the SDK in two forms: ``read_file`` and ``remove_file`` turn the server's
``NotFoundError`` into the builtin ``FileNotFoundError``, but ``listdir``/``iterdir`` do not, and every
call raises ``NotFoundError`` before it starts when the Volume itself does not exist (the lookup happens
first). Every function here turns both into ``FileNotFoundError``, so callers handle one exception.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from providers.log_lines import tail_of
from providers.pull_limits import PullBudget, PullLimits, write_limited
from providers.safe_paths import UnsafePath, checked_relpath, inside
from providers.types import ProviderError, TransientProviderError

DOWNLOAD_ATTEMPTS = 3
MANIFEST_MAX_BYTES = 16 * 1024 * 1024
CHECKPOINTS = "checkpoints"


@contextmanager
def missing_is_file_not_found(path: str) -> Iterator[None]:
    """Modal's ``NotFoundError`` (a missing path, or a missing Volume) as the builtin ``FileNotFoundError``."""
    import modal.exception

    try:
        yield
    except modal.exception.NotFoundError as exc:
        raise FileNotFoundError(f"{path}: {' '.join(str(exc).split())[:200]}") from None


def read_bytes(volume, path: str, max_bytes: int) -> bytes:
    """A whole small file (``ValueError`` past ``max_bytes``); FileNotFoundError when it is not there."""
    parts, size = [], 0
    with missing_is_file_not_found(path):
        for chunk in volume.read_file(path):
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(f"{path} is larger than {max_bytes} bytes")
            parts.append(chunk)
    return b"".join(parts)


def read_from(volume, path: str, position: int) -> Iterator[bytes]:
    """The bytes of a file after its first ``position`` (nothing when it is not there), streamed."""
    skip = position
    try:
        with missing_is_file_not_found(path):
            for chunk in volume.read_file(path):
                if skip >= len(chunk):
                    skip -= len(chunk)
                    continue
                yield chunk[skip:]
                skip = 0
    except FileNotFoundError:
        return


MAX_LOG_PARTS = 100_000


def log_parts(volume, folder: str) -> list[tuple[str, int]] | None:
    """(path, size) of a run's log parts in order (``remote_job.LogParts``); None for a run without them."""
    from modal.types import FileEntryType

    try:
        with missing_is_file_not_found(folder):
            entries = volume.listdir(folder, recursive=False)
    except FileNotFoundError:
        return None
    parts = []
    for entry in entries:
        name = PurePosixPath(str(entry.path)).name
        if entry.type == FileEntryType.FILE and name.startswith("part-") and name[5:].isdigit():
            parts.append((f"{folder}/{name}", int(entry.size)))
    return sorted(parts)[:MAX_LOG_PARTS]


def read_log_from(volume, folder: str, position: int, legacy: str) -> Iterator[bytes]:
    """The log after its first ``position`` bytes, reading only the parts that hold them (a part that is full
    never changes; the last one may have grown since it was listed). ``legacy``: the one-file log of a run
    launched before logs came in parts."""
    parts = log_parts(volume, folder)
    if parts is None:
        yield from read_from(volume, legacy, position)
        return
    start = 0
    for path, size in parts:
        last = path == parts[-1][0]
        if start + size <= position and not last:
            start += size
            continue
        yield from read_from(volume, path, max(0, position - start))
        position = start = start + size  # the next part starts where this one's listed size ends
        if last:
            return


def read_log_tail(volume, folder: str, max_bytes: int, legacy: str) -> bytes | None:
    """The last ``max_bytes`` of the log, from its last parts only."""
    parts = log_parts(volume, folder)
    if parts is None:
        return read_tail(volume, legacy, max_bytes)
    wanted, covered = [], 0
    for path, size in reversed(parts):
        wanted.append(path)
        covered += size
        if covered >= max_bytes:
            break
    data = b"".join(b"".join(read_from(volume, path, 0)) for path in reversed(wanted))
    return data[-max_bytes:]


def read_tail(volume, path: str, max_bytes: int) -> bytes | None:
    """The last ``max_bytes`` of a file (a log), streamed past; None when it is not there."""
    try:
        with missing_is_file_not_found(path):
            return tail_of(volume.read_file(path), max_bytes)
    except FileNotFoundError:
        return None


def list_files(volume, folder: str) -> list[tuple[str, int]]:
    """(path relative to ``folder``, size) of every file under it; FileNotFoundError when it is gone.

    The listing is the remote side's word: a path outside ``folder`` or one that would leave it (``..``) is
    ``UnsafePath``; symlinks and anything else that is not a plain file are left where they are."""
    from modal.types import FileEntryType

    found = []
    with missing_is_file_not_found(folder):
        entries = volume.listdir(folder, recursive=True)
    for entry in entries:
        if entry.type == FileEntryType.FILE:
            found.append((_relative(str(entry.path), folder), int(entry.size)))
    return sorted(found)


def _relative(path: str, folder: str) -> str:
    try:
        rel = PurePosixPath(path).relative_to(folder).as_posix()
    except ValueError:
        raise UnsafePath(f"the Volume listed {path!r} under {folder!r}, outside it") from None
    return checked_relpath(rel)


def remove_folder(volume, folder: str) -> bool:
    """Delete ``folder`` and everything under it; False when it was not there (teardown is idempotent)."""
    try:
        with missing_is_file_not_found(folder):
            volume.remove_file(folder, recursive=True)
    except FileNotFoundError:
        return False
    return True


def wait_for_manifest(volume, folder: str, wait_s: float, step_s: float = 2.0) -> bool:
    """Whether ``folder/manifest.json`` shows up within ``wait_s`` (a container commits its Volume writes as it
    shuts down, after the call has already returned). A folder that is not there at all is not waited for."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            if any(rel == "manifest.json" for rel, _ in list_files(volume, folder)):
                return True
        except FileNotFoundError:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(step_s, max(0.0, deadline - time.monotonic())))


def download_outputs(volume, folder: str, dest: Path, include_checkpoints: bool,
                     limits: PullLimits | None = None) -> list[str]:
    """Copy ``folder`` into ``dest`` within ``limits``; manifest-listed files are verified (and fetched again
    when bad)."""
    try:
        files = list_files(volume, folder)
    except FileNotFoundError:
        raise ProviderError(f"no outputs at {folder} on the Volume (torn down, or the job never started)") from None
    manifest = _manifest(volume, folder) if any(rel == "manifest.json" for rel, _ in files) else {}
    limits = limits or PullLimits()
    budget = (limits if include_checkpoints else limits.for_manifest({"files": list(manifest.values())})).start()
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    copied = []
    for rel, size in files:
        if rel.split("/")[0] == CHECKPOINTS and not include_checkpoints:
            continue
        budget.expect(size, rel)
        _download(volume, f"{folder}/{rel}", inside(dest, rel), manifest.get(rel), budget)
        copied.append(rel)
    return copied


def _manifest(volume, folder: str) -> dict[str, dict]:
    """The template's manifest by path (empty when it is unreadable: the job did not finish writing it)."""
    try:
        data = json.loads(read_bytes(volume, f"{folder}/manifest.json", MANIFEST_MAX_BYTES))
    except (FileNotFoundError, ValueError):
        return {}
    entries = data.get("files", []) if isinstance(data, dict) else []
    return {e["path"]: e for e in entries if isinstance(e, dict) and isinstance(e.get("path"), str)}


def _download(volume, path: str, target: Path, expected: dict | None, budget: PullBudget) -> None:
    problem = ""
    for _ in range(DOWNLOAD_ATTEMPTS):
        digest = hashlib.sha256()
        try:
            with missing_is_file_not_found(path):
                size = write_limited(_hashed(volume.read_file(path), digest), target, budget, path)
        except FileNotFoundError:
            raise ProviderError(f"{path} vanished from the Volume during the download") from None
        if expected is None:
            return
        problem = _mismatch(expected, size, digest.hexdigest())
        if not problem:
            return
    target.unlink(missing_ok=True)
    raise TransientProviderError(f"{path}: {problem} after {DOWNLOAD_ATTEMPTS} downloads")


def _hashed(chunks: Iterator[bytes], digest) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _mismatch(expected: dict, size: int, sha256: str) -> str:
    if size != expected.get("bytes"):
        return f"{size} bytes arrived, the manifest says {expected.get('bytes')} (truncated download)"
    if sha256 != expected.get("sha256"):
        return "sha256 differs from the manifest"
    return ""
