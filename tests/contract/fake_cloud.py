"""A fake remote provider that behaves like a cloud, for the contract suite and the lifecycle tests.

What makes it cloud-like (and unlike the local provider):
- asynchronous start: ``launch`` returns a handle at once; the machine is ``pending``, then
  ``provisioning`` for ``provisioning_s``, then ``running``;
- a separate "remote" filesystem: the bundle tarball is uploaded (sha256 checked) to the machine's own
  disk under ``remote/``, the job writes there, and artifacts must be fetched;
- resources listed by tag; ``teardown`` kills the job and deletes the disk (the artifacts go with it);
- its own bill (``billed_cost``: rate × time from launch to teardown);
- injectable faults: ``fail_next[method] = n`` raises ``TransientProviderError`` n times, ``delay[method]``
  sleeps before answering, ``corrupt`` flips bytes of fetched files, ``foreign`` adds resources of other
  owners/hosts.

Its machines are threads in the test process, so it does not survive a kill -9 of the process (the fault
tests use the local provider for that).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from providers.base import Provider
from providers.local import job_env
from providers.protocol import last_messages
from providers.types import (
    Bundle,
    Capability,
    CheckResult,
    LaunchPlan,
    Offer,
    ProviderError,
    Resource,
    RunHandle,
    RunState,
    RunStatus,
    TransientProviderError,
)


@dataclass
class Machine:
    name: str
    run_id: str
    tags: dict[str, str]
    disk: Path
    launched_at: float
    state: RunState = RunState.PENDING
    error: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    terminated_at: float | None = None
    process: subprocess.Popen | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class FakeCloud(Provider):
    name = "fake"

    def __init__(self, root: Path, provisioning_s: float = 0.3, usd_per_hour: Decimal = Decimal("1.20")) -> None:
        self.remote = root / "remote"
        self.remote.mkdir(parents=True, exist_ok=True)
        self.provisioning_s = provisioning_s
        self.usd_per_hour = usd_per_hour
        self.machines: dict[str, Machine] = {}
        self.fail_next: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.corrupt: set[str] = set()
        self.foreign: list[Resource] = []
        self.calls: list[str] = []
        self._lock = threading.Lock()

    # --- faults -----------------------------------------------------------------------------------------
    def _enter(self, method: str) -> None:
        self.calls.append(method)
        time.sleep(self.delay.get(method, 0.0))
        with self._lock:
            if self.fail_next.get(method, 0) > 0:
                self.fail_next[method] -= 1
                raise TransientProviderError(f"fake cloud: {method} timed out (injected)")

    # --- the interface ----------------------------------------------------------------------------------
    def capabilities(self) -> list[Capability]:
        return [Capability("spot", True, "preemptible machines at a discount"),
                Capability("billing", True, "the fake bill: rate × time from launch to teardown"),
                Capability("multi_node", False, "one machine per run"),
                Capability("runtime_limit", True, "the machine ends the job at the limit by itself")]

    def check(self) -> CheckResult:
        return CheckResult(True, "fake cloud reachable")

    def offers(self) -> list[Offer]:
        return [Offer("A10G", 1, self.usd_per_hour, False, "fake price list", "2026-11-01", "fake-east-1")]

    def destination(self, plan: LaunchPlan) -> str:
        return f"uploaded to the fake cloud, machine {plan.resource_name} in fake-east-1"

    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        self._enter("launch")
        disk = self.remote / plan.resource_name
        disk.mkdir(parents=True)
        shutil.copyfile(bundle.tarball, disk / "bundle.tar.gz")
        if hashlib.sha256((disk / "bundle.tar.gz").read_bytes()).hexdigest() != bundle.sha256:
            raise ProviderError("upload corrupted")
        machine = Machine(plan.resource_name, plan.run_id, plan.tags, disk, time.time())
        self.machines[plan.resource_name] = machine
        command = [sys.executable, bundle.entrypoint, *bundle.args]
        threading.Thread(target=self._boot, args=(machine, command, job_env(plan), plan.max_runtime_s),
                         daemon=True).start()
        return RunHandle(self.name, plan.run_id, plan.resource_name, {"output_dir": bundle.output_dir})

    def status(self, handle: RunHandle) -> RunStatus:
        self._enter("status")
        machine = self.machines.get(handle.resource_id)
        if machine is None or machine.terminated_at is not None:
            return RunStatus(RunState.UNKNOWN, "no such machine", exists=False)
        progress, _ = last_messages(self._log_lines(machine))
        return RunStatus(machine.state, machine.error or "", True, progress, machine.exit_code, machine.error,
                         machine.started_at, machine.ended_at)

    def logs(self, handle: RunHandle, follow: bool = False, tail_bytes: int | None = None) -> Iterator[str]:
        self._enter("logs")
        machine = self._machine(handle)
        while follow and not machine.state.terminal and machine.terminated_at is None:
            time.sleep(0.05)
        yield from self._log_lines(machine)

    def fetch_artifacts(self, handle: RunHandle, dest: Path, include_checkpoints: bool = False,
                        limits=None) -> list[str]:
        self._enter("fetch_artifacts")
        source = self._machine(handle).disk / "job" / handle.data.get("output_dir", "out")
        if not source.is_dir():
            raise ProviderError(f"{handle.resource_id}: no output on the machine")
        copied = []
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            rel = path.relative_to(source).as_posix()
            if rel.startswith("checkpoints/") and not include_checkpoints:
                continue
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            (dest / rel).write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if rel in self.corrupt and data else data)
            copied.append(rel)
        return copied

    def teardown(self, handle: RunHandle) -> None:
        self._enter("teardown")
        machine = self.machines.get(handle.resource_id)
        if machine is None or machine.terminated_at is not None:
            return
        machine.stop.set()
        if machine.process is not None and machine.process.poll() is None:
            machine.process.kill()
            machine.process.wait()
        machine.terminated_at = time.time()
        shutil.rmtree(machine.disk, ignore_errors=True)

    def list_resources(self) -> list[Resource]:
        self._enter("list_resources")
        live = [m for m in self.machines.values() if m.terminated_at is None]
        return [Resource(m.name, m.name, m.run_id, m.tags, m.state,
                         RunHandle(self.name, m.run_id, m.name, {"output_dir": "out"}), m.launched_at)
                for m in live] + list(self.foreign)

    def billed_cost(self, handle: RunHandle, ended_at=None) -> Decimal | None:
        machine = self.machines.get(handle.resource_id)
        if machine is None or machine.terminated_at is None:
            return None
        seconds = Decimal(repr(round(machine.terminated_at - machine.launched_at, 3)))
        return (self.usd_per_hour * seconds / 3600).quantize(Decimal("0.000001"))

    # --- the machine's own life ---------------------------------------------------------------------------
    def _boot(self, machine: Machine, command: list[str], env: dict[str, str], limit_s: float) -> None:
        if machine.stop.wait(self.provisioning_s / 2):
            return
        machine.state = RunState.PROVISIONING
        if machine.stop.wait(self.provisioning_s / 2):
            return
        job = machine.disk / "job"
        with tarfile.open(machine.disk / "bundle.tar.gz") as tar:
            tar.extractall(job, filter="data")
        with (machine.disk / "log.txt").open("ab") as log:
            machine.process = subprocess.Popen(command, cwd=job, env=env, stdout=log, stderr=subprocess.STDOUT)
        machine.started_at, machine.state = time.time(), RunState.RUNNING
        try:
            code = machine.process.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            machine.process.kill()
            machine.process.wait()
            machine.state, machine.error = RunState.BUDGET_STOPPED, f"hard runtime limit of {limit_s} s reached"
            machine.ended_at = time.time()
            return
        if machine.stop.is_set():
            return
        _, done = last_messages(self._log_lines(machine))
        machine.exit_code, machine.ended_at = code, time.time()
        machine.error = None if code == 0 else (done or {}).get("error") or f"exit code {code}"
        machine.state = RunState.SUCCEEDED if code == 0 else RunState.FAILED

    def _machine(self, handle: RunHandle) -> Machine:
        machine = self.machines.get(handle.resource_id)
        if machine is None or machine.terminated_at is not None:
            raise ProviderError(f"{handle.resource_id}: no such machine (torn down?)")
        return machine

    def _log_lines(self, machine: Machine) -> list[str]:
        try:
            return (machine.disk / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
