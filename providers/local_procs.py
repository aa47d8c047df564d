"""Process bookkeeping for the local provider: is a recorded pid still the process we started, and how to
end it and its process group.

A pid alone is not proof: after a reboot or a long pause the number can belong to someone else. On Linux
the command line is checked for a marker (the run's work dir), and a zombie counts as gone. Elsewhere the
pid's existence is all there is.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def alive(pid: int | None, marker: str | None = None) -> bool:
    """True when ``pid`` runs, is not a zombie, and (where /proc exists) its command line holds ``marker``."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return marker is None  # someone else's process: not ours
    if not PROC.is_dir():
        return True
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    return marker is None or marker in cmdline


def group_alive(pgid: int | None) -> bool:
    """True while any process of the group exists (zombies included: they still hold the group id)."""
    if not pgid or pgid <= 0:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    if PROC.is_dir():
        return any(_in_group(entry, pgid) for entry in PROC.iterdir() if entry.name.isdigit())
    return True


def _in_group(entry: Path, pgid: int) -> bool:
    """A live (non-zombie) member of the group."""
    try:
        fields = (entry / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid)


def signal_group(pgid: int | None, sig: int) -> None:
    if not pgid or pgid <= 0:
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def signal_pid(pid: int | None, sig: int) -> None:
    if not pid or pid <= 0:
        return
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(condition, timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; return whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def end_group(pgid: int | None, grace_s: float) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after ``grace_s``."""
    if not group_alive(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    if not wait_until(lambda: not group_alive(pgid), grace_s):
        signal_group(pgid, signal.SIGKILL)
        wait_until(lambda: not group_alive(pgid), 5.0)
