"""What the fake SkyPilot does the way SkyPilot's server and the clouds do it: a request's error encoded as
the API server sends it, and a machine taken away with every process on it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
import signal
import time
from pathlib import Path

MACHINE_MARK = "FAKE_SKY_MACHINE"  # in every job process's environment: what to kill when the machine goes
TERMINAL = ("SUCCEEDED", "FAILED", "FAILED_SETUP", "CANCELLED", "FAILED_DRIVER")


def encoded_error(error: BaseException | None) -> str:
    """A request's ``error`` as the API server sends it: ``Request.set_error`` (sky/server/requests/requests.py)
    keeps {"object": pickled serialize_exception(e), "type", "message"}, and ``Request.encode`` sends
    ``orjson.dumps(self.error)``, which is the string "null" when there was none."""
    import orjson
    from sky import exceptions
    from sky.server.requests.serializers import encoders

    if error is None:
        return orjson.dumps(None).decode("utf-8")
    return orjson.dumps({"object": encoders.pickle_and_encode(exceptions.serialize_exception(error)),
                         "type": type(error).__name__, "message": str(error)}).decode("utf-8")


def kill(machine) -> None:
    """The machine is gone, and every process on it with it. Not only the run command's process group:
    ``timeout`` (which our run command uses) puts itself and the job in a group of their own, and a job left
    running would go on writing the bucket while the recovered job writes it too."""
    machine.status = "GONE" if machine.status != "PREEMPTED" else machine.status
    machine.job_status = machine.job_status if machine.job_status in TERMINAL else "CANCELLED"
    process = machine.process
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended between the poll and the kill
            pass
    mark = f"{MACHINE_MARK}={machine.disk}".encode()
    for _ in range(100):
        left = pids_marked(mark)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not left:
            break
        time.sleep(0.02)
    if process is not None:
        process.wait()


def pids_marked(mark: bytes) -> list[int]:
    """Live processes (not zombies) whose environment carries ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            zombie = "Z" in (entry / "stat").read_text().split(")")[-1][:3]
            if not zombie and mark in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@dataclass
class Machine:
    """One cluster (or the current machine of a managed job) and its one job."""

    name: str
    disk: Path
    labels: dict
    launched_at: float
    status: str = "INIT"
    job_status: str | None = None
    process: subprocess.Popen | None = None
    start_at: float | None = None
    end_at: float | None = None
    placed: tuple[str, str, dict, str] = ("AWS", "us-east-1", {}, "m6i.large")
    """(cloud, region, accelerators, instance type) the optimizer chose: what ``status`` reports from the
    handle's ``launched_resources``."""

    @property
    def resources_full(self) -> str:
        """As sky/utils/resources_utils.py ``format_resource`` writes it, for one node."""
        cloud, _, accelerators, instance = self.placed
        gpus = "".join(f"gpus={name}:{count}, " for name, count in accelerators.items())
        return f"1x({gpus}cpus=4, mem=16, {instance}, disk=100)"


def labels_of(task) -> dict:
    return dict(next(iter(task.resources)).labels or {})


def held(hold: threading.Event):
    """A ``preload_content=False`` stream (sky/client/sdk.py ``stream_response``) from a server that accepted
    the request and sends nothing: the first read blocks until the server is released."""
    hold.wait()
    yield None


def tail_logs_of(machine_of, status_of, follow, tail, output_stream, preload_content, codes, log=None):
    """``tail_logs`` in both of its modes: write to a stream and return the exit code, or an iterator."""
    machine = machine_of()
    path = (log() if log else None) or machine.disk / "run.log"
    while follow and status_of(machine) not in TERMINAL:
        time.sleep(0.05)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    except OSError:
        lines = []
    lines = lines[-tail:] if tail else lines
    if not preload_content:
        return iter([*lines, None])
    (output_stream or sys.stdout).write("".join(lines))
    return codes.get(status_of(machine), 100)
