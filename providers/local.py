"""The local provider: runs a bundle on this machine, behaving like a remote one.

``launch`` "uploads" the bundle (verifies the tarball's sha256 and unpacks it into a work dir of its own,
``<data dir>/local-provider/tp-<run id>/``), and starts a watchdog in its own session that runs the job in
its own process group with its output in ``run.log`` and ends it at the hard runtime limit, even after the
CLI is gone. ``teardown`` ends both and deletes the work dir: like a cloud disk, it is gone afterwards, so
artifacts must be fetched first. The job sees only a small allow-list of the environment plus the secrets
its spec names. Cost is electricity (power × hours × your kWh price); there is no bill, so
``billed_cost`` is None. POSIX only (process groups).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from providers import local_procs as procs
from providers.base import Provider
from providers.log_lines import split_lines
from providers.private_files import private_dir, restrict_tree, write_private_text
from providers.protocol import last_messages
from providers.pull_limits import PullLimits, file_chunks, write_limited
from providers.safe_paths import inside, regular_files
from providers.types import (
    RESOURCE_PREFIX,
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
)

WATCHDOG = Path(__file__).with_name("local_watchdog.py")
# What a job inherits from this environment; anything that looks like a credential is dropped unless the
# spec names it as a secret.
ENV_NAMES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "SHELL", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
             "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
             "https_proxy", "no_proxy", "XDG_CACHE_HOME")
ENV_PREFIXES = ("LC_", "HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "CUDA_", "NVIDIA_", "OMP_", "MKL_",
                "TOKENIZERS_", "BNB_")
SECRET_HINTS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL")
LOG_TAIL_BYTES = 256 * 1024
READ_CHUNK = 1024 * 1024


class LocalProvider(Provider):
    """Runs bundles here. ``root`` holds one work dir per run (the machine's "disk")."""

    name = "local"

    def __init__(self, root: Path | None = None, python: str | None = None, grace_s: float = 5.0,
                 usd_per_hour: Decimal | None = None) -> None:
        if root is None:
            from providers.paths import data_dir

            root = data_dir() / "local-provider"
        self.root = Path(root)
        self.python = python or sys.executable
        self.grace_s = grace_s
        self.usd_per_hour = usd_per_hour
        self._children: dict[str, subprocess.Popen] = {}

    # --- what it is -------------------------------------------------------------------------------------
    def capabilities(self) -> list[Capability]:
        return [
            Capability("spot", False, "a machine you own is never preempted"),
            Capability("multi_node", False, "one machine: this one"),
            Capability("billing", False, "no bill: the cost is electricity (power × hours × your kWh price)"),
            Capability("runtime_limit", True, "a watchdog process that outlives the CLI ends the job"),
            Capability("secrets", True, "named secrets are passed from this environment to the job only"),
        ]

    def check(self) -> CheckResult:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return CheckResult(True, "smoke jobs run here; training jobs need the train extra",
                               "pip install 'tuneplan[train]'")
        return CheckResult(True, f"runs jobs with {self.python}")

    def offers(self) -> list[Offer]:
        from datetime import date

        from providers.hardware import local_machine
        from providers.settings import load_settings

        settings = load_settings()
        machine, kwh, today = local_machine(settings.hardware), settings.electricity.kwh_usd, date.today().isoformat()
        devices = [("cpu", 0, machine.cpu.watts())] if machine.cpu else []
        devices += [(g.gpu, g.count, g.watts(g.count)) for g in machine.gpus]
        return [Offer(gpu, count, _rate(watts, kwh), False, f"electricity ${kwh}/kWh at {watts:.0f} W", today, "local")
                for gpu, count, watts in devices]

    def destination(self, plan: LaunchPlan) -> str:
        return f"nothing leaves this machine: the bundle is unpacked into {self.root / plan.resource_name}"

    # --- running ------------------------------------------------------------------------------------------
    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        workdir = self.root / plan.resource_name
        if workdir.exists():
            raise ProviderError(f"{workdir} already exists: run ids are unique, so this run was launched before")
        _check_tarball(bundle)
        private_dir(self.root)
        workdir.mkdir(mode=0o700)
        _write_json(workdir / "resource.json", {"name": plan.resource_name, "run_id": plan.run_id, "tags": plan.tags,
                                                "created_at": time.time(), "max_runtime_s": plan.max_runtime_s})
        with tarfile.open(bundle.tarball) as tar:
            tar.extractall(workdir / "bundle", filter="data")
        restrict_tree(workdir / "bundle")
        if bundle.nodes > 1:
            raise ProviderError("the local provider runs one machine: use resources.nodes: 1 (with cpu_processes "
                                "or this machine's GPUs)")
        command = bundle.command(self.python, str(workdir / "bundle" / bundle.entrypoint))
        watchdog_log = os.open(workdir / "watchdog.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:  # umask 077: the job's own outputs and log are private too
            child = subprocess.Popen(
                [self.python, str(WATCHDOG), "--workdir", str(workdir), "--max-runtime-s", str(plan.max_runtime_s),
                 "--grace-s", str(self.grace_s), "--", *command],
                cwd=workdir, env=job_env(plan, bundle), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=watchdog_log, start_new_session=True, umask=0o077)
        finally:
            os.close(watchdog_log)
        self._children[plan.run_id] = child
        return RunHandle(self.name, plan.run_id, plan.resource_name,
                         {"workdir": str(workdir), "watchdog_pid": child.pid, "output_dir": bundle.output_dir})

    def status(self, handle: RunHandle) -> RunStatus:
        workdir = self._workdir(handle)
        self._reap_child(handle)
        if not workdir.is_dir():
            return RunStatus(RunState.UNKNOWN, "the work dir is gone (torn down)", exists=False)
        info = _read_json(workdir / "status.json")
        progress, done = last_messages(_tail(workdir / "run.log"))
        if info is None:
            return self._before_watchdog(handle, workdir)
        state = RunState.parse(info.get("state"))
        if not state.terminal and not procs.alive(info.get("watchdog_pid"), str(workdir)):
            return _orphaned(info, done, progress, workdir)
        return RunStatus(state, info.get("error") or "", True, progress, info.get("exit_code"), info.get("error"),
                         info.get("started_at"), info.get("ended_at"))

    def logs(self, handle: RunHandle, follow: bool = False, tail_bytes: int | None = None) -> Iterator[str]:
        path = self._workdir(handle) / "run.log"
        start = _log_start(path, tail_bytes) if not follow else 0
        yield from split_lines(self._log_chunks(handle, path, start, follow))

    def _log_chunks(self, handle: RunHandle, path: Path, position: int, follow: bool) -> Iterator[bytes]:
        while True:
            chunk = _read_from(path, position)
            if not chunk and follow and not self._finished(handle):
                time.sleep(0.2)
                continue
            if not chunk and follow:
                chunk = _read_from(path, position)  # what was written between the last read and the end
            if not chunk:
                return
            position += len(chunk)
            yield chunk

    def fetch_artifacts(self, handle: RunHandle, dest: Path, include_checkpoints: bool = False,
                        limits: PullLimits | None = None) -> list[str]:
        """Copy plain files only (a link the job left is skipped, never followed), within the pull's limits."""
        source = self._workdir(handle) / "bundle" / str(handle.data.get("output_dir") or "out")
        if not source.is_dir():
            raise ProviderError(f"run {handle.run_id}: no output dir at {source} (torn down, or it never started)")
        limits = limits or PullLimits()
        budget = (limits if include_checkpoints else limits.for_manifest(_read_json(source / "manifest.json"))).start()
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        copied = []
        for rel, path in regular_files(source, on_other=lambda name, kind: None):
            if rel.startswith("checkpoints/") and not include_checkpoints:
                continue
            try:
                budget.expect(path.stat().st_size, rel)
                write_limited(file_chunks(path), inside(dest, rel), budget, rel)
            except FileNotFoundError:
                if not rel.startswith("checkpoints/"):
                    raise
                continue  # a job still running rotates old checkpoints away while they are copied
            copied.append(rel)
        return copied

    def teardown(self, handle: RunHandle) -> None:
        workdir = self._workdir(handle)
        info = _read_json(workdir / "status.json") or {}
        watchdog = info.get("watchdog_pid") or handle.data.get("watchdog_pid")
        if procs.alive(watchdog, str(workdir)):
            procs.signal_pid(watchdog, signal.SIGTERM)  # it ends the job's group and records "cancelled"
            gone = lambda: self._child_exited(handle) or not procs.alive(watchdog, str(workdir))  # noqa: E731
            if not procs.wait_until(gone, self.grace_s + 6):
                procs.signal_pid(watchdog, signal.SIGKILL)
                procs.wait_until(gone, 5.0)  # gone means gone: a teardown returns once nothing of the run runs
            self._reap_child(handle)
        procs.end_group((_read_json(workdir / "status.json") or info).get("child_pid"), self.grace_s)
        self._reap_child(handle)
        shutil.rmtree(workdir, ignore_errors=True)

    def list_resources(self) -> list[Resource]:
        found = []
        for workdir in sorted(self.root.glob(f"{RESOURCE_PREFIX}*")) if self.root.is_dir() else []:
            meta = _read_json(workdir / "resource.json")
            if meta is None:
                continue
            handle = RunHandle(self.name, str(meta.get("run_id")), workdir.name,
                               {"workdir": str(workdir), "output_dir": _output_dir(workdir)})
            found.append(Resource(workdir.name, str(meta.get("name") or workdir.name), str(meta.get("run_id")),
                                  dict(meta.get("tags") or {}), self.status(handle).state, handle,
                                  meta.get("created_at")))
        return found

    # --- helpers ----------------------------------------------------------------------------------------
    def _workdir(self, handle: RunHandle) -> Path:
        return Path(handle.data.get("workdir") or self.root / handle.resource_id)

    def _finished(self, handle: RunHandle) -> bool:
        status = self.status(handle)
        return status.state.terminal or not status.exists

    def _child_exited(self, handle: RunHandle) -> bool:
        """Our own watchdog child has exited (where /proc is missing, a zombie would look alive)."""
        child = self._children.get(handle.run_id)
        return child is not None and child.poll() is not None

    def _reap_child(self, handle: RunHandle) -> None:
        """Collect our own exited watchdog, so it is not left as a zombie that looks alive."""
        child = self._children.get(handle.run_id)
        if child is not None and child.poll() is not None:
            self._children.pop(handle.run_id, None)

    def _before_watchdog(self, handle: RunHandle, workdir: Path) -> RunStatus:
        """No status.json yet: the watchdog is starting, or it died before writing anything."""
        if procs.alive(handle.data.get("watchdog_pid"), str(workdir)):
            return RunStatus(RunState.PROVISIONING, "starting the watchdog")
        created = (_read_json(workdir / "resource.json") or {}).get("created_at") or 0
        if time.time() - created < 10:
            return RunStatus(RunState.PROVISIONING, "starting the watchdog")
        return RunStatus(RunState.FAILED, "the watchdog never started", error="the watchdog never started (see watchdog.log)")


def job_env(plan: LaunchPlan, bundle: Bundle | None = None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The job's environment: the allow-list, minus anything credential-like, plus the named secrets. A CPU
    rehearsal of a distributed run sees no GPU and one thread per process (the processes share the cores)."""
    environ = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in environ.items()
           if (k in ENV_NAMES or k.startswith(ENV_PREFIXES)) and not any(h in k.upper() for h in SECRET_HINTS)}
    env.update({name: environ[name] for name in plan.secrets if name in environ})
    env.update(PYTHONUNBUFFERED="1", TUNEPLAN_RUN_ID=plan.run_id)
    if bundle is not None and bundle.cpu_only:
        env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
    return env


def _rate(watts: float, kwh_usd: Decimal) -> Decimal:
    return (Decimal(repr(round(watts, 1))) / 1000 * kwh_usd).quantize(Decimal("0.000001"))


def _orphaned(info: dict, done: dict | None, progress: dict | None, workdir: Path) -> RunStatus:
    """The watchdog died (kill -9, reboot) while the job was running: the log's done line decides."""
    if procs.group_alive(info.get("child_pid")):
        return RunStatus(RunState.RUNNING, "running without its watchdog (no runtime limit)", True, progress,
                         started_at=info.get("started_at"))
    if done is not None and done.get("ok"):
        return RunStatus(RunState.SUCCEEDED, "", True, progress, 0, None, info.get("started_at"))
    error = (done or {}).get("error") or "the job and its watchdog ended without a word (killed?)"
    return RunStatus(RunState.FAILED, error, True, progress, None, error, info.get("started_at"))


def _output_dir(workdir: Path) -> str:
    bundle = _read_json(workdir / "bundle" / "bundle.json") or {}
    return str(bundle.get("output_dir") or "out")


def _check_tarball(bundle: Bundle) -> None:
    """What a remote side does on upload: the bytes that arrived are the bytes that were sent."""
    with bundle.tarball.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != bundle.sha256:
        raise ProviderError(f"bundle {bundle.tarball} changed after it was built (sha256 {digest[:12]}…, "
                            f"expected {bundle.sha256[:12]}…)")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write_private_text(tmp, json.dumps(data, indent=2))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tail(path: Path) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _read_from(path: Path, position: int, size: int = READ_CHUNK) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(position)
            return f.read(size)
    except OSError:
        return b""


def _log_start(path: Path, tail_bytes: int | None) -> int:
    """Where to start reading for the last ``tail_bytes`` (at the start of a line), or 0 for all of it."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    if tail_bytes is None or size <= tail_bytes:
        return 0
    start = size - tail_bytes
    newline = _read_from(path, start, min(tail_bytes, READ_CHUNK)).find(b"\n")
    return start + newline + 1 if newline >= 0 else start
