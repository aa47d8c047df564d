"""Failpoints: named spots in the lifecycle where the fault tests stop the CLI to kill it with SIGKILL.

Inert unless ``TUNEPLAN_FAILPOINT`` names the spot. Then the process stops itself with SIGSTOP there, so a
test can wait for the stop and kill -9 it at exactly that point (between "the machine exists" and "the
ledger knows its handle", say), which no timing-based kill can hit reliably.
"""

from __future__ import annotations

import os
import signal


def reached(name: str) -> None:
    if os.environ.get("TUNEPLAN_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGSTOP)
