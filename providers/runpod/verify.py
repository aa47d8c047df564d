"""Checking what came down from a pod against the pod's own ``sha256sum`` listing, before teardown."""

from __future__ import annotations

import hashlib
from pathlib import Path

from providers.types import TransientProviderError


def sha_listing(text: str) -> dict[str, str]:
    """``sha256sum`` output → {relative path: digest}."""
    found = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        if digest and path:
            found[path.removeprefix("./")] = digest
    return found


def verified(dest: Path, expected: dict[str, str], pod_id: str) -> list[str]:
    """Every file the pod listed arrived with the same sha256; the relative paths, sorted."""
    for rel, digest in expected.items():
        path = dest / rel
        if not path.is_file():
            raise TransientProviderError(f"{rel} did not arrive from pod {pod_id}; pull again")
        with path.open("rb") as f:
            if hashlib.file_digest(f, "sha256").hexdigest() != digest:
                raise TransientProviderError(f"{rel} arrived from pod {pod_id} with another sha256; pull again")
    return sorted(expected)
