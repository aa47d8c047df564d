"""The Modal provider in the contract suite, with Modal's remote side faked at the SDK's edge.

Everything our provider builds is the real SDK (App, Image, Function, Volume, Secret); what would go over
the network is replaced, returning what the real SDK returns (read in modal 1.6.4's source):
``App.deploy/lookup/stop/get_tags/set_tags``, ``Function.spawn/from_name`` (a hydrated ``FunctionCall``),
``FunctionCall.from_id/get/cancel`` (``get(timeout=0)`` raises the builtin ``TimeoutError`` while running,
``FunctionTimeoutError`` after the function's timeout), ``Volume.read_file`` (byte chunks, FileNotFoundError),
``listdir`` (``modal.types.FileEntry`` with paths from the volume root; a missing path raises
``modal.exception.NotFoundError``, which the SDK does not convert, unlike ``read_file``/``remove_file``),
``remove_file``, a Volume that was never created (every call raises ``NotFoundError`` from the lookup that
precedes it), ``App.set_tags`` (validated by the SDK's own ``check_tag_dict``), the environment's app list and
the workspace billing report (``modal.types.BillingReportItem`` rows of whole, finished hours only: ``end`` is
exclusive, a partial final hour is left out, and an hour's rows appear ``report_lag`` after it ends).

A spawned call runs in a "container": a subprocess in its own session that imports
``providers.modal.remote_job`` by name, as Modal does, with a bare environment plus the named secrets (the
fake secret store resolves a name from this process's environment, as if the user had created it), the
image's added bundle file and the mounted Volume laid out under ``TUNEPLAN_CONTAINER_ROOT``. The function's
own ``timeout`` (read from the real Function) is enforced by killing the container.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from providers.settings import ModalSettings
from providers.types import TAG_RUN
from tests.contract.harness import Harness

REPO = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)


@dataclass
class FakeCall:
    call_id: str
    process: subprocess.Popen | None = None
    result: dict | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class FakeModal:
    """Modal's servers, in this process: deployed apps, calls running as subprocesses, volumes as folders."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.apps: dict[str, dict] = {}        # name -> {"tags": {...}, "functions": {name: Function}, "live": bool}
        self.calls: dict[str, FakeCall] = {}
        self.get_faults: list[BaseException] = []  # raised by the next FunctionCall.get, one each
        # Volume writes show once the container commits them, at its shutdown (modal.Volume.commit docs):
        # this many listings after a call ended still lack its last file (the manifest, written last).
        self.uncommitted_reads = 0
        self.commits: list[str] = []  # Volume.commit() calls made from inside a "container"
        self.truncate: dict[str, int] = {}     # path suffix -> how many reads come back short
        self.reads: list[str] = []
        self.container_prelude = ""  # Python run in each container before the segment (a test's setting)
        self.volumes: set[str] = set()          # created volumes (deploying an app creates its volumes)
        self.billing_rows: list[tuple[datetime, str, str]] = []  # (hour start UTC, cost, run tag): Modal's meter
        self.billing_error: BaseException | None = None
        self.report_lag = timedelta(minutes=45)
        self.now: Callable[[], float] = time.time  # the server's clock, for the billing report
        self.after_tags_read: Callable[[], None] | None = None   # one shot: another client acts right after
        self.after_tags_write: Callable[[], None] | None = None  # a read / a write of the app's tags
        self.patch = pytest.MonkeyPatch()

    # --- installing -------------------------------------------------------------------------------------
    def install(self) -> FakeModal:
        import modal

        fake = self
        p = self.patch
        p.setattr(modal.App, "deploy", lambda app, **kw: fake.deploy(app, kw.get("name")))
        p.setattr(modal.App, "lookup", staticmethod(lambda name, **kw: fake.lookup(name)))
        p.setattr(modal.App, "stop", lambda app, **kw: fake.app(app.name).update(live=False))
        p.setattr(modal.App, "get_tags", lambda app, **kw: fake.get_tags(app.name))
        p.setattr(modal.App, "set_tags", lambda app, tags, **kw: fake.set_tags(app.name, tags))
        p.setattr(modal.Function, "spawn", lambda fn, *args, **kw: fake.spawn(fn, args, kw))
        p.setattr(modal.Function, "from_name", staticmethod(lambda app, name, **kw: fake.app(app)["functions"][name]))
        p.setattr(modal.FunctionCall, "from_id", staticmethod(lambda call_id, **kw: fake.handle(call_id)))
        p.setattr(modal.FunctionCall, "get", lambda fc, timeout=None, **kw: fake.get(fc.object_id, timeout))
        p.setattr(modal.FunctionCall, "cancel", lambda fc, **kw: fake.cancel(fc.object_id))
        p.setattr(modal.Volume, "read_file", lambda vol, path: fake.read_file(vol.name, path))
        p.setattr(modal.Volume, "listdir", lambda vol, path, recursive=False: fake.listdir(vol.name, path, recursive))
        p.setattr(modal.Volume, "remove_file", lambda vol, path, recursive=False: fake.remove(vol.name, path))
        p.setattr(modal.Volume, "commit", lambda vol, **kw: fake.commits.append(vol.name))  # Volume.commit()
        p.setattr(modal.Environment, "from_context", staticmethod(lambda **kw: _Environment(fake)))
        p.setattr(modal.Workspace, "from_context", staticmethod(lambda **kw: _Workspace(fake)))
        return self

    def uninstall(self) -> None:
        for call in list(self.calls.values()):
            self._kill(call)
        self.patch.undo()

    # --- apps -------------------------------------------------------------------------------------------
    def deploy(self, app, name):
        from modal._utils.async_utils import synchronizer

        import modal.exception

        state = _impl(app)._local_state
        functions = {tag: synchronizer._translate_out(function) for tag, function in state.functions.items()}
        for function in functions.values():  # deploying resolves each named Secret (SecretGetOrCreate): NOT_FOUND
            for secret in _impl(function)._spec.secrets:
                if secret._name not in os.environ:
                    raise modal.exception.NotFoundError(f"Secret '{secret._name}' not found in environment 'main'")
        self.apps[name or app.name] = {"tags": dict(state.tags), "live": True, "functions": functions}
        for function in functions.values():  # Volume.from_name(..., create_if_missing=True) creates it now
            self.volumes.update(volume.name for volume in function.info().volumes.values())
        return app

    def get_tags(self, name: str) -> dict[str, str]:
        tags = dict(self.app(name)["tags"])
        hook, self.after_tags_read = self.after_tags_read, None
        if hook is not None:
            hook()
        return tags

    def set_tags(self, name: str, tags) -> None:
        from modal._utils.name_utils import check_tag_dict

        check_tag_dict(tags)  # what the SDK checks before its AppSetTags request
        self.app(name).update(tags=dict(tags))
        hook, self.after_tags_write = self.after_tags_write, None
        if hook is not None:
            hook()

    def app(self, name: str) -> dict:
        import modal.exception

        found = self.apps.get(name)
        if found is None or not found["live"]:
            raise modal.exception.NotFoundError(f"App '{name}' not found")
        return found

    def lookup(self, name: str):
        import modal

        self.app(name)
        return modal.App(name)

    # --- calls ------------------------------------------------------------------------------------------
    def handle(self, call_id: str):
        import modal  # noqa: F401 - the synchronizer needs the public module loaded
        from modal._functions import _FunctionCall
        from modal._utils.async_utils import synchronizer

        return synchronizer._translate_out(_FunctionCall._new_hydrated(call_id, None, None))

    def spawn(self, function, args, kwargs):
        info = function.info()
        call = FakeCall(f"fc-fake{next(_ids):06d}")
        self.calls[call.call_id] = call
        container = self.root / "containers" / call.call_id
        spec = _impl(function)._spec
        for local, remote in image_layers(spec.image)[1]:
            target = container / remote.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
        for mount_path, volume_info in info.volumes.items():
            (container / mount_path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (container / mount_path.lstrip("/")).symlink_to(self.volume_dir(volume_info.name))
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(container), "PYTHONPATH": str(REPO),
               "TUNEPLAN_CONTAINER_ROOT": str(container)}
        for secret in spec.secrets:
            name = secret._name
            if name in os.environ:
                env[name] = os.environ[name]
        script = ("import json, sys\nfrom providers.modal import remote_job\n" + self.container_prelude +
                  "print('FAKE_RESULT ' + json.dumps(remote_job.run_segment(json.loads(sys.argv[1]))))\n")
        call.process = subprocess.Popen([sys.executable, "-c", script, json.dumps(args[0])], cwd=container, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        threading.Thread(target=self._supervise, args=(call, info.timeout), daemon=True).start()
        return self.handle(call.call_id)

    def _supervise(self, call: FakeCall, timeout_s: float) -> None:
        import modal.exception

        try:
            out, _ = call.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._kill(call)
            call.error = modal.exception.FunctionTimeoutError(f"Function timed out after {timeout_s} s")
            call.done.set()
            return
        lines = [line for line in out.decode().splitlines() if line.startswith("FAKE_RESULT ")]
        if call.error is None:
            if lines:
                call.result = json.loads(lines[-1].partition(" ")[2])
            else:
                call.error = modal.exception.RemoteError("container exited without a result")
        call.done.set()

    def _kill(self, call: FakeCall) -> None:
        if call.process is not None and call.process.poll() is None:
            try:
                os.killpg(call.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            call.process.wait()

    def get(self, call_id: str, timeout):
        if self.get_faults:  # the connection to Modal dropping mid-poll (grpclib, ClientClosed ...)
            raise self.get_faults.pop(0)
        call = self.calls[call_id]
        if not call.done.wait(timeout if timeout is not None else None):
            raise TimeoutError()
        if call.error is not None:
            raise call.error
        return call.result

    def cancel(self, call_id: str) -> None:
        import modal.exception

        call = self.calls[call_id]
        if not call.done.is_set():
            call.error = modal.exception.RemoteError("Function call was cancelled")
            self._kill(call)

    # --- volumes ----------------------------------------------------------------------------------------
    def volume_dir(self, name: str) -> Path:
        path = self.root / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def existing_volume(self, name: str) -> Path:
        """A created volume's folder; for any other name the SDK's lookup (before every call) raises."""
        import modal.exception

        if name not in self.volumes:
            raise modal.exception.NotFoundError(f"Volume '{name}' not found in environment 'main'")
        return self.volume_dir(name)

    def read_file(self, volume: str, path: str):
        file = self.existing_volume(volume) / path.lstrip("/")
        if not file.is_file():
            raise FileNotFoundError(f"No such file: {path}")
        data = file.read_bytes()
        self.reads.append(path)
        for suffix, left in self.truncate.items():
            if path.endswith(suffix) and left > 0:
                self.truncate[suffix] = left - 1
                data = data[: len(data) // 2]
        for start in range(0, len(data), 64 * 1024):
            yield data[start:start + 64 * 1024]

    def listdir(self, volume: str, path: str, recursive: bool):
        import modal.exception
        from modal.types import FileEntry, FileEntryType

        base = self.existing_volume(volume)
        folder = base / path.lstrip("/")
        if not folder.exists():  # the server's NOT_FOUND, passed on by listdir unconverted
            raise modal.exception.NotFoundError(f"No such file or directory: {path}")
        found = folder.rglob("*") if recursive else folder.iterdir()
        if self.uncommitted_reads > 0:  # the container has not committed its last writes yet
            self.uncommitted_reads -= 1
            found = [p for p in found if p.name != "manifest.json"]
        return [FileEntry(p.relative_to(base).as_posix(), FileEntryType.FILE if p.is_file() else FileEntryType.DIRECTORY,
                          int(p.stat().st_mtime), p.stat().st_size if p.is_file() else 0) for p in sorted(found)]

    def remove(self, volume: str, path: str) -> None:
        target = self.existing_volume(volume) / path.lstrip("/")
        if not target.exists():
            raise FileNotFoundError(f"No such file or directory: {path}")
        shutil.rmtree(target) if target.is_dir() else target.unlink()


def image_layers(image, builder_version: str = "2025.06") -> tuple[list[str], list[tuple[str, str]]]:
    """An image's Dockerfile commands (base first) and its added local files (local path, container path),
    read offline from the SDK's own definitions: each layer keeps its base images and mounts as ``_deps``
    and its Dockerfile recipe in the closure of its loader."""
    from modal._image import _Image
    from modal.mount import _Mount

    commands: list[str] = []
    files: list[tuple[str, str]] = []

    def walk(obj) -> None:
        if isinstance(obj, _Mount):
            files.extend((str(e.local_file), str(e.remote_path)) for e in obj._entries)
            return
        for dep in (obj._deps() if obj._deps else []):
            walk(dep)
        if isinstance(obj, _Image) and obj._load is not None and obj._load.__closure__:
            cells = dict(zip(obj._load.__code__.co_freevars, obj._load.__closure__, strict=True))
            recipe = cells.get("dockerfile_function")
            if recipe is not None and recipe.cell_contents is not None:
                commands.extend(recipe.cell_contents(builder_version).commands)

    walk(_impl(image))
    return commands, files


def _impl(obj):
    """The SDK's implementation object behind a public (synchronized) one, where the definitions live."""
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(obj)


class _Apps:
    def __init__(self, fake: FakeModal) -> None:
        self.fake = fake

    def list(self):
        import modal

        return [modal.App(name) for name, app in self.fake.apps.items() if app["live"]]


class _Environment:
    """Stands in for ``modal.Environment`` (only ``.apps.list()`` is used)."""

    def __init__(self, fake: FakeModal) -> None:
        self.apps = _Apps(fake)


class _Billing:
    def __init__(self, fake: FakeModal) -> None:
        self.fake = fake

    def report(self, *, start: datetime, end: datetime | None = None, resolution: str = "d", tag_names=None):
        """Hourly rows of the metered hours in [start, end) that are over (and ``report_lag`` old) by now."""
        import modal.exception
        from modal.types import BillingReportItem

        if self.fake.billing_error is not None:
            raise self.fake.billing_error
        now = datetime.fromtimestamp(self.fake.now(), timezone.utc)
        end = end or now
        for moment in (start, end):
            if moment.tzinfo not in (None, timezone.utc):
                raise modal.exception.InvalidError("Timezone-aware 'start' parameter must be in UTC.")
        assert resolution == "h", "the fake meters hours only"
        start, end = start.replace(tzinfo=timezone.utc), end.replace(tzinfo=timezone.utc)
        published = now - self.fake.report_lag
        first = start.replace(minute=0, second=0, microsecond=0)
        return [BillingReportItem("ap-fake", "tp-app", "main", hour, Decimal(cost), {"gpu": Decimal(cost)},
                                  {TAG_RUN: run_tag} if TAG_RUN in (tag_names or []) else {})
                for hour, cost, run_tag in sorted(self.fake.billing_rows)
                if first <= hour and hour + timedelta(hours=1) <= min(end, published)]


class _Workspace:
    """Stands in for ``modal.Workspace`` (only ``.billing.report()`` is used)."""

    def __init__(self, fake: FakeModal) -> None:
        self.billing = _Billing(fake)


class ModalHarness(Harness):
    fake: FakeModal

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            self.fake.uninstall()


def make_modal(tmp_path: Path, cap_s: int | None = None, clock: Callable[[], float] | None = None, **settings):
    """A ModalProvider with the fake remote side installed, and that fake (sharing ``clock`` when given)."""
    from providers.modal.provider import ModalProvider

    fake = FakeModal(tmp_path / "fake-modal").install()
    options: dict = {"cap_s": cap_s} if cap_s else {}
    if clock is not None:
        options["clock"] = fake.now = clock
    return ModalProvider(ModalSettings(**settings), **options), fake


def make_harness(tmp_path: Path) -> Harness:
    provider, fake = make_modal(tmp_path)
    # the contract's script jobs write no manifest.json: a real job's manifest is waited for (test_modal_service
    # checks that wait), a script's absence need not cost the suite a minute
    provider.manifest_wait_s = 3.0
    harness = ModalHarness(provider, tmp_path)
    harness.fake = fake
    return harness
