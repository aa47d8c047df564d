"""Who and where we are, as the tags on every remote resource say it (``tuneplan-owner``, ``tuneplan-host``).

``reap`` ends only resources whose tags match this owner and host, so the host id must be stable across
runs of the CLI on one machine and differ between machines that share a hostname.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
from pathlib import Path


def current_owner() -> str:
    """The OS user name (the JobSpec's default owner too)."""
    try:
        return getpass.getuser()
    except Exception:  # getuser raises several error types in containers without a passwd entry
        return "unknown"


def host_id() -> str:
    """``TUNEPLAN_HOST_ID`` or ``<hostname>-<6 hex of the machine id>``, lower-case, tag-safe."""
    override = os.environ.get("TUNEPLAN_HOST_ID")
    if override:
        return _tag_safe(override)
    name = _tag_safe(socket.gethostname() or "host")[:40]
    return f"{name}-{hashlib.sha256(_machine_id().encode()).hexdigest()[:6]}"


def _machine_id() -> str:
    for path in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if text:
            return text
    return socket.gethostname()


def _tag_safe(text: str) -> str:
    """Clouds allow few characters in labels: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "host"
