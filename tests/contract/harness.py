"""What a contract test needs around a provider: bundles to launch (smoke jobs, or a hand-written script),
launch plans with tags, and waiting for a state. Shared with the lifecycle and fault tests."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from planner.spec import spec_from_dict
from providers.base import Provider
from providers.types import Bundle, LaunchPlan, RunHandle, RunStatus
from remote_jobs.bundle import build_bundle, seal_bundle
from remote_jobs.resolve import resolve_job

OWNER, HOST = "tester", "test-host"
# Run ids differ between test processes too (a random start): two suites side by side must never see each
# other's processes or resources as their own (tests look processes up by run id, machine-wide).
_counter = itertools.count(int.from_bytes(os.urandom(2), "big"))


def smoke_spec(name: str = "contract", steps: int = 3, step_seconds: float = 0.0, fail_at: int | None = None,
               **extra):
    raw = {"name": name, "task": "smoke", "model": "none", "owner": OWNER,
           "training": {"max_steps": steps, "save_steps": 1},
           "smoke": {"step_seconds": step_seconds, **({"fail_at": fail_at} if fail_at else {})}, **extra}
    return spec_from_dict(raw)


@dataclass
class Harness:
    provider: Provider
    tmp: Path
    handles: list[RunHandle] = field(default_factory=list)

    def run_id(self, name: str = "contract") -> str:
        return f"{name}-20261115-120000-{next(_counter) % 0x10000:04x}"

    def bundle(self, run_id: str, **smoke) -> Bundle:
        """A smoke job's bundle (the real bundle builder, the real template)."""
        job = resolve_job(smoke_spec(**smoke), None)
        return build_bundle(job, run_id, self.tmp / "bundles" / run_id)

    def script_bundle(self, run_id: str, script: str) -> Bundle:
        """A hand-written job: ``job.py`` with ``script`` as its body, output in ``out/``."""
        root = self.tmp / "bundles" / run_id
        root.mkdir(parents=True)
        (root / "job.py").write_text(script, encoding="utf-8")
        return seal_bundle(root, run_id, "smoke", "job.py", ())

    def plan(self, run_id: str, max_runtime_s: int = 60, secrets: tuple[str, ...] = ()) -> LaunchPlan:
        return LaunchPlan(run_id=run_id, owner=OWNER, host=HOST, max_runtime_s=max_runtime_s, secrets=secrets)

    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        handle = self.provider.launch(bundle, plan)
        self.handles.append(handle)
        return handle

    def wait(self, handle: RunHandle, timeout_s: float = 20.0) -> RunStatus:
        """Poll until the run ends (or its resource is gone)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.provider.status(handle)
            if status.state.terminal or not status.exists or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    def wait_running(self, handle: RunHandle, timeout_s: float = 10.0) -> RunStatus:
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.provider.status(handle)
            if status.progress or status.state.terminal or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    def cleanup(self) -> None:
        for handle in self.handles:
            self.provider.teardown(handle)


class FakeClock:
    """Time that moves only when the code sleeps, ``speed`` times faster than the real (short) sleep."""

    def __init__(self, start=None, speed: float = 1.0) -> None:
        from datetime import datetime, timezone

        self._now = start or datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
        self.speed = speed

    def now(self):
        return self._now

    def sleep(self, seconds: float) -> None:
        from datetime import timedelta

        time.sleep(min(seconds, 0.05))
        self._now += timedelta(seconds=seconds * self.speed)

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self._now += timedelta(seconds=seconds)


def run_lifecycle(spec, provider, ledger, clock, runs_root, events=None, spec_path=None, poll_s=0.05,
                  change_plan=None):
    """prepare → bundle (+ the template's check) → record → launch → watch, as the CLI does it."""
    from dataclasses import replace

    from remote_jobs import launch as steps
    from remote_jobs.watch import watch

    sink = events.append if events is not None else (lambda event: None)
    request = steps.prepare(spec, spec_path, provider, clock)
    if change_plan:
        request.plan = replace(request.plan, **change_plan)
    bundle = steps.bundle_and_validate(request, runs_root)
    run = steps.start(request, bundle, ledger, clock, runs_root, sink)
    return watch(run, poll_s=poll_s)


def processes_mentioning(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
