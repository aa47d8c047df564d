"""Bringing a pod's outputs home: file by file over the run's SSH connection, before the pod is ended.

The pod is outside input. Its listing says which files exist, how big they are and their sha256; every
name passes ``safe_paths`` (a listing naming ``/etc/passwd`` or ``../x`` is refused, never read or hashed
here), only plain files are listed (``find -type f`` does not follow links), and each file streams straight
into the run folder, counted against the pull's byte cap and deadline. No tar is unpacked here: there is
no archive format to be tricked (sparse members, links, giant headers) and no second copy on disk.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

from providers.pull_limits import PullBudget, PullLimits, limited_writer
from providers.safe_paths import checked_relpath, inside
from providers.types import ProviderError, TransientProviderError

READ_TIMEOUT_S = 60.0
HASH_TIMEOUT_S = 3600.0
MANIFEST = "manifest.json"
MANIFEST_MAX_BYTES = 16 << 20


def pull_outputs(shell, out_dir: str, dest: Path, include_checkpoints: bool, limits: PullLimits | None,
                 pod_id: str) -> list[str]:
    """Copy ``out_dir`` on the pod into ``dest``; every file arrives with the pod's own sha256."""
    skip = "" if include_checkpoints else " -not -path './checkpoints/*'"
    sizes = _sizes(shell, out_dir, skip, pod_id)
    limits = limits or PullLimits()
    if not include_checkpoints and MANIFEST in sizes:
        limits = limits.for_manifest(_manifest(shell, out_dir))
    budget = limits.start()
    budget.expect(sum(sizes.values()), f"the outputs of pod {pod_id}")  # before the pod spends time hashing them
    expected = _checksums(shell, out_dir, skip, budget)
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    for rel in sorted(sizes):
        digest = _copy(shell, f"{out_dir}/{rel}", inside(dest, rel), budget, rel)
        if expected.get(rel) != digest:
            raise TransientProviderError(f"{rel} arrived from pod {pod_id} with another sha256 than the pod "
                                         "listed; pull again")
    return sorted(sizes)


def _sizes(shell, out_dir: str, skip: str, pod_id: str) -> dict[str, int]:
    """{name: bytes} of the plain files under ``out_dir`` (NUL-separated, so any name parses)."""
    code, out, _err = shell.run(f"cd {shlex.quote(out_dir)} && find . -type f{skip} -printf '%s %P\\0'")
    if code != 0:
        raise ProviderError(f"no output dir on pod {pod_id} (it never started?)")
    sizes = {}
    for entry in out.split(b"\0"):
        size, _, name = entry.decode("utf-8", "replace").partition(" ")
        if entry:
            if not size.isdigit():
                raise ProviderError(f"pod {pod_id} listed its outputs in a form tuneplan does not read")
            sizes[checked_relpath(name)] = int(size)
    return sizes


def _checksums(shell, out_dir: str, skip: str, budget: PullBudget) -> dict[str, str]:
    """{name: sha256} as the pod computes them (a large file takes a while to hash: no output until then)."""
    _code, listing, _err = shell.run(f"cd {shlex.quote(out_dir)} && find . -type f{skip} -exec sha256sum -- {{}} +",
                                     timeout_s=budget.read_timeout(HASH_TIMEOUT_S))
    return {checked_relpath(name): digest for name, digest in sha_listing(listing.decode("utf-8", "replace")).items()}


def sha_listing(text: str) -> dict[str, str]:
    """``sha256sum`` output → {name as printed: digest} (names are checked by the caller)."""
    found = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        if digest and path:
            found[path] = digest
    return found


def _manifest(shell, out_dir: str) -> object:
    code, out, _err = shell.run(f"cat -- {shlex.quote(f'{out_dir}/{MANIFEST}')}", max_bytes=MANIFEST_MAX_BYTES)
    try:
        return json.loads(out) if code == 0 else None
    except ValueError:
        return None


def _copy(shell, remote: str, target: Path, budget: PullBudget, what: str) -> str:
    """Stream one file into ``target``; its sha256."""
    budget.check_time(what)
    digest = hashlib.sha256()
    with limited_writer(target, budget, what) as write:
        def land(chunk: bytes) -> None:
            digest.update(chunk)
            write(chunk)

        code, err = shell.stream(f"cat -- {shlex.quote(remote)}", land, timeout_s=budget.read_timeout(READ_TIMEOUT_S))
        if code != 0:
            raise TransientProviderError(f"reading {what} from the pod failed: "
                                         f"{err.decode('utf-8', 'replace').strip()[:200]}")
    return digest.hexdigest()
