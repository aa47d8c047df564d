"""What runs inside the Modal container: one segment of a run. Standard library only.

Modal imports this module by name in the container (the ``providers`` package is mounted as the function's
source; nothing else of tuneplan is there, so this module must never import it). One call:

1. checks the bundle tarball added to the image against the sha256 the launcher computed;
2. unpacks it once into the run's folder on the Volume (``<volume>/tp-<run id>/work``), so the template's
   output dir, checkpoints included, lives on the Volume and survives the container;
3. runs the template there with the container's environment (the named Modal secrets are in it), its
   output copied line by line to stdout (Modal's log) and to ``log/part-NNNNNN`` files on the Volume, each
   at most ``LOG_PART_BYTES`` (the SDK reads a Volume file only whole, so a poller reads just the parts it
   has not seen and the last one, never the whole log again);
4. stops the template with SIGTERM when its segment time is up (before Modal's own timeout) or at the run's
   absolute deadline (``deadline_at``, fixed at launch: a container Modal restarts after a preemption does
   not get a fresh clock), so the template ends after its last checkpoint and the next call resumes from
   it; a segment Modal has started more than ``MAX_STARTS`` times is given up;
5. writes ``segment-<n>.json`` (start, end, outcome) beside it and returns the same dict.

In a cluster (``job["nodes"]`` > 1, a ``@modal.clustered`` function) every container gets the call; each
reads its rank and the rank-0 container's address from Modal's cluster context and starts torchrun as
that node. Rank 0 speaks for the run as above; the other containers keep their own log
(``log-node<r>/``), start count and record (``segment-<n>-node<r>.json``) beside it, so no two containers
write the same file (a Volume merges each container's changes when it commits, the last writer winning).

Paths are container paths; ``TUNEPLAN_CONTAINER_ROOT`` prefixes them where the "container" is not one
(``.local()`` in tests, a fake container).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

ROOT_ENV = "TUNEPLAN_CONTAINER_ROOT"
STOP_GRACE_S = 10.0
MAX_STARTS = 3  # a segment Modal has started more often than this is given up
LOG_DIR = "log"
LOG_PART_BYTES = 1 << 20


def run_segment(job: dict) -> dict:
    """Run segment ``job["segment"]`` of the run described by ``job``; return its outcome (a plain dict)."""
    root = Path(os.environ.get(ROOT_ENV) or "/")
    run_dir = root / job["volume_path"].lstrip("/") / job["run_folder"]
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    node, master_addr = cluster_node(job)
    suffix = f"-node{node}" if node else ""
    record = {"segment": job["segment"], "segments": job["segments"], "started_at": started, "node": node}
    starts = _count_start(run_dir, f"{job['segment']}{suffix}")
    stop_at = min(started + float(job["stop_after_s"]), float(job.get("deadline_at") or float("inf")))
    try:
        if starts > MAX_STARTS:
            raise GiveUp(f"Modal started segment {job['segment']} {starts} times (preempted or crashed each time); "
                         "giving up so it stops billing")
        if time.time() >= stop_at:
            raise GiveUp("the run's hard runtime limit had passed when this segment started")
        work = _unpack(root / job["bundle_path"].lstrip("/"), job["bundle_sha256"], run_dir / "work")
        command = node_command(job, work, node, master_addr)
        state, code, error = _run(job, command, work, LogParts(run_dir / f"{LOG_DIR}{suffix}"), stop_at)
    except GiveUp as exc:
        state, code, error = ("stopped" if "limit" in str(exc) else "failed"), None, str(exc)
    except BundleError as exc:
        state, code, error = "failed", None, str(exc)
    record.update(state=state, exit_code=code, error=error, ended_at=time.time())
    _write_json(run_dir / f"segment-{job['segment']}{suffix}.json", record)
    _commit(job.get("volume_name"))
    return record


def _commit(volume_name: str | None) -> None:
    """Make this container's Volume writes visible before the call returns: Modal commits them only at the
    container's shutdown otherwise, after the launcher may already have looked for the manifest. Only in a
    real Modal container (``MODAL_TASK_ID``), where the modal package is there; a failure here leaves the
    shutdown commit, which the launcher waits for."""
    if not volume_name or not os.environ.get("MODAL_TASK_ID"):
        return
    try:
        import modal

        modal.Volume.from_name(volume_name).commit()
    except Exception as exc:  # noqa: BLE001 - the commit at shutdown still happens
        print(f"tuneplan: Volume commit failed ({type(exc).__name__}); Modal commits at shutdown", flush=True)


def cluster_node(job: dict) -> tuple[int, str]:
    """(this container's node rank, the rank-0 container's address) — (0, 127.0.0.1) outside a cluster.
    Modal's runtime fills the cluster context before the call (``modal.experimental.get_cluster_info``);
    IPv4 where the cluster has it, else its IPv6 private address."""
    if int(job.get("nodes") or 1) <= 1:
        return 0, "127.0.0.1"
    import modal.experimental

    info = modal.experimental.get_cluster_info()
    addresses = list(info.container_ipv4_ips) or list(info.container_ips)
    if len(addresses) != int(job["nodes"]):
        raise BundleError(f"the cluster has {len(addresses)} containers, the run was planned for {job['nodes']}")
    return int(info.rank), addresses[0]


def node_command(job: dict, work: Path, node: int, master_addr: str) -> list[str]:
    """The template's command on this node: the launcher's placeholders filled (CONTRACTS §10)."""
    facts = {"node_rank": str(node), "master_addr": master_addr, "master_port": str(job.get("master_port", 29500))}
    launcher = [part.format(**facts) if part.startswith("{") else part for part in job.get("launcher", ())]
    return [sys.executable, *launcher, str(work / job["entrypoint"]), *job["args"]]  # torchrun where launched


class BundleError(Exception):
    """The bundle that arrived is not the one that was sent."""


class GiveUp(Exception):
    """This segment must not run: past the run's absolute deadline, or started too many times."""


def _count_start(run_dir: Path, segment: str) -> int:
    """How many times this segment has started, this one included. Modal runs a preempted or crashed input
    again in a fresh container, and each would otherwise start the clock afresh; the count lives on the
    Volume so every container of the run sees it."""
    path = run_dir / f"starts-{segment}"
    try:
        count = int(path.read_text(encoding="utf-8").strip() or 0) + 1
    except (OSError, ValueError):
        count = 1
    path.write_text(str(count), encoding="utf-8")
    return count


def _unpack(tarball: Path, sha256: str, work: Path) -> Path:
    marker = work / f".bundle-{sha256[:16]}"
    if marker.is_file():
        return work
    try:
        with tarball.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise BundleError(f"bundle missing in the container ({tarball}: {exc.strerror})") from None
    if digest != sha256:
        raise BundleError(f"bundle sha256 {digest[:12]}… differs from the launcher's {sha256[:12]}…")
    work.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(work, filter="data")
    marker.write_text(sha256, encoding="utf-8")
    return work


class LogParts:
    """The job's output as numbered files of at most ``LOG_PART_BYTES`` (split at line ends), continued
    across segments and restarts: part-000001, part-000002, ... in order are the whole log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.name[5:]) for p in folder.glob("part-*") if p.name[5:].isdigit()]
        self.number = max(numbers, default=1)
        self.file = None

    def _path(self, number: int) -> Path:
        return self.folder / f"part-{number:06d}"

    def write(self, line: bytes) -> None:
        if self.file is None:
            self.file = self._path(self.number).open("ab")
        if self.file.tell() and self.file.tell() + len(line) > LOG_PART_BYTES:
            self.file.close()
            self.number += 1
            self.file = self._path(self.number).open("ab")
        self.file.write(line)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def tail(self, max_bytes: int) -> bytes:
        """The last ``max_bytes`` of the log (from the last two parts at most)."""
        data = b""
        for number in (self.number - 1, self.number):
            try:
                data += self._path(number).read_bytes()
            except OSError:
                continue
        return data[-max_bytes:]


def _run(job: dict, command: list[str], work: Path, log: LogParts, stop_at: float) -> tuple[str, int | None, str | None]:
    """(state, exit code, error): state is succeeded, failed or stopped (segment time up)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUNEPLAN_RUN_ID": job["run_id"]}
    env.pop(ROOT_ENV, None)
    try:
        child = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        copier = threading.Thread(target=_copy_lines, args=(child.stdout, log), daemon=True)
        copier.start()
        stopped = _wait(child, stop_at)
        copier.join(timeout=5)
    finally:
        log.close()
    if stopped:
        return "stopped", child.returncode, f"segment time of {job['stop_after_s']:.0f} s used up"
    if child.returncode == 0:
        return "succeeded", 0, None
    return "failed", child.returncode, _done_error(log.tail(256 * 1024)) or f"exit code {child.returncode}"


def _copy_lines(stream, log) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.write(line.decode("utf-8", "replace"))
        sys.stdout.flush()
        log.write(line)
        log.flush()


def _wait(child: subprocess.Popen, stop_at: float) -> bool:
    """Wait for the job; True when it had to be stopped because the segment's time was up."""
    while True:
        try:
            child.wait(timeout=max(0.0, min(1.0, stop_at - time.time())))
            return False
        except subprocess.TimeoutExpired:
            if time.time() < stop_at:
                continue
        for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(child.pid, sig)
                child.wait(timeout=wait_s)
                return True
            except ProcessLookupError:
                return True
            except subprocess.TimeoutExpired:
                continue
        return True


def _done_error(tail: bytes) -> str | None:
    lines = tail.decode("utf-8", "replace").splitlines()[-200:]
    for line in reversed(lines):
        if line.startswith("TUNEPLAN_DONE "):
            try:
                return json.loads(line.partition(" ")[2]).get("error")
            except (ValueError, AttributeError):
                return None
    return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
