"""The local provider's watchdog: runs one job and enforces its hard runtime limit, whatever the CLI does.

Started by ``providers.local`` in a session of its own, so it outlives the CLI (Ctrl-C in the terminal,
kill -9, a closed laptop lid on the shell) exactly as a remote machine would. It starts the job in its own
process group with output appended to ``run.log``, and ends that group when the limit passes
(``budget_stopped``) or when it is itself asked to stop by SIGTERM (``cancelled``: a teardown).

It writes ``status.json`` atomically at every change; that file is the "remote API" the provider reads.
Standard library only, run by file path: it must work even where tuneplan is not importable.

    python local_watchdog.py --workdir DIR --max-runtime-s 600 [--grace-s 5] -- python smoke.py --config job.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.1


class Watch:
    """The run's state as written to status.json."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "status.json"
        self.data: dict = {"state": "provisioning", "watchdog_pid": os.getpid(), "child_pid": None,
                           "started_at": None, "ended_at": None, "exit_code": None, "error": None}
        self.stop_reason: str | None = None

    def write(self, **changes) -> None:
        self.data.update(changes)
        tmp = self.path.with_name(f".status.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data), encoding="utf-8")
        os.replace(tmp, self.path)

    def request_stop(self, signum, frame) -> None:
        self.stop_reason = self.stop_reason or f"stopped by signal {signal.Signals(signum).name} (teardown)"


def end_group(child: subprocess.Popen, grace_s: float) -> int | None:
    """SIGTERM to the job's process group (the templates end cleanly on it), SIGKILL after the grace time."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            return child.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    return child.poll()


def last_done(log: Path) -> dict | None:
    """The job's own TUNEPLAN_DONE line, for the error message of a failed run."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("TUNEPLAN_DONE "):
            try:
                return json.loads(line.partition(" ")[2])
            except ValueError:
                return None
    return None


def supervise(watch: Watch, child: subprocess.Popen, deadline: float, grace_s: float) -> tuple[str, str | None]:
    """Wait for the job; return (final state, reason when it was stopped)."""
    while True:
        try:
            code = child.wait(timeout=POLL_S)
            return ("succeeded" if code == 0 else "failed"), None
        except subprocess.TimeoutExpired:
            pass
        if watch.stop_reason:
            end_group(child, grace_s)
            return "cancelled", watch.stop_reason
        if time.time() >= deadline:
            end_group(child, grace_s)
            return "budget_stopped", f"hard runtime limit of {int(deadline - watch.data['started_at'])} s reached"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="run one job under a hard runtime limit")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--max-runtime-s", type=float, required=True)
    parser.add_argument("--grace-s", type=float, default=5.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    watch = Watch(args.workdir)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, watch.request_stop)
    watch.write()
    log_path = args.workdir / "run.log"
    with log_path.open("ab") as log:
        child = subprocess.Popen(command, cwd=args.workdir / "bundle", stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    started = time.time()
    watch.write(state="running", child_pid=child.pid, started_at=started, deadline_at=started + args.max_runtime_s)
    state, reason = supervise(watch, child, started + args.max_runtime_s, args.grace_s)
    done = last_done(log_path) or {}
    error = reason or (None if state == "succeeded" else done.get("error") or f"exit code {child.returncode}")
    watch.write(state=state, ended_at=time.time(), exit_code=child.returncode, error=error)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
