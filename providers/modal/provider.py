"""The Modal provider: a run is a deployed App ``tp-<run id>`` with one GPU function, whose calls run the
bundle and keep everything on a Volume.

``launch`` deploys the App and spawns the first call detached; the handle keeps the call id, so any later
process (``tuneplan watch`` after the CLI was closed) asks Modal about the same call. ``status`` polls the
call and reads the run's log on the Volume for progress. A run longer than Modal's 24 h cap is a chain of
calls (``segments``): when one call used up its time, ``status`` spawns the next, which resumes from the
last checkpoint on the Volume; while nobody watches, the chain pauses at a segment boundary and costs
nothing. ``teardown`` cancels the call, stops the App and deletes the run's folder on the Volume (unless
``modal.keep_outputs``). The App exists from launch to teardown, tagged with owner, host and run id, which
is what ``list_resources`` (reap) and the billing report use.

Two watchers of one run (say ``tuneplan watch`` in two terminals) can both see a segment end. Modal's app
tags have no compare-and-set, so the next segment is spawned only if a fresh read of the tags still shows
the old segment, and after writing the new call id the tags are read again: a caller whose write was
overwritten cancels its own call and follows the other one. What remains is a window of a few RPCs in
which both writes land before either re-read; then two calls of one segment exist. The function has
``max_containers=1``, so they should run one after the other, not side by side: the second resumes from the
first one's checkpoint. Each call has its own timeout, so such a duplicate can add up to one segment's time
(and cost) to the run; the chain then follows whichever call id the tags hold last.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from providers.base import Provider
from providers.modal import billing, calls, volume_io
from providers.modal.app import SCALEDOWN_S, TAG_CALL, TAG_SEGMENT, app_name, build_app, tag_value
from providers.modal.calls import LOGIN_HINT, Outcome, sdk, sdk_errors
from providers.modal.segments import MODAL_MAX_TIMEOUT_S
from providers.modal.remote_job import LOG_DIR
from providers.log_lines import split_lines
from providers.protocol import last_messages
from providers.pull_limits import PullLimits
from providers.settings import ModalSettings
from providers.types import (
    RESOURCE_PREFIX,
    TAG_RUN,
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

TAG_SEGMENTS = "tuneplan-segments"
LOG_POLL_S = 1.0
STATUS_TAIL_BYTES = 256 * 1024
# A Volume's writes become visible when the container commits them, at its shutdown: just after the call
# returned, the manifest may not be there yet. Asked again for this long before the outputs count as missing.
MANIFEST_WAIT_S = 60.0  # enough for the last progress and done lines


class ModalProvider(Provider):
    """Runs bundles as Modal function calls. ``cap_s`` is Modal's per-call limit (tests lower it)."""

    name = "modal"

    def __init__(self, settings: ModalSettings | None = None, cap_s: int = MODAL_MAX_TIMEOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        if settings is None:
            from providers.settings import load_settings

            settings = load_settings().modal
        self.settings = settings
        self.cap_s = cap_s
        self.clock = clock
        self._stopped_at: dict[str, float] = {}  # run id -> when this process stopped its App (no cost after)
        self._pulled: set[str] = set()  # runs whose outputs this process brought home: only those may be deleted
        self.manifest_wait_s = MANIFEST_WAIT_S

    # --- what it is -------------------------------------------------------------------------------------
    def capabilities(self) -> list[Capability]:
        return [
            Capability("spot", False, "Modal has one serverless price per GPU-second; there is no spot tier"),
            Capability("multi_node", False, "one container holds at most 8 GPUs (A10: 4); no multi-node runs"),
            Capability("billing", True, "Modal's billing report by the run's app tag, once its whole-hour rows "
                                        "cover the hour the run ended in; until then no bill (the ledger "
                                        "keeps rate × time)"),
            Capability("runtime_limit", True, "the function timeout (at most 24 h a call); longer runs continue "
                                              "in new calls from the last checkpoint on the Volume"),
            Capability("secrets", True, "named Modal secrets (modal secret create NAME NAME=value); the values "
                                        "never pass through tuneplan"),
        ]

    def ready_here(self) -> CheckResult:
        return self.check()  # reads only the environment and ~/.modal.toml

    def check(self) -> CheckResult:
        if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
            return CheckResult(True, "Modal token from MODAL_TOKEN_ID / MODAL_TOKEN_SECRET")
        path = Path(os.environ.get("MODAL_CONFIG_PATH") or Path.home() / ".modal.toml")
        try:
            has_token = "token_id" in path.read_text(encoding="utf-8")
        except OSError:
            has_token = False
        if has_token:
            return CheckResult(True, f"Modal token in {path}")
        return CheckResult(False, "no Modal token found", LOGIN_HINT)

    def offers(self) -> list[Offer]:
        from planner.catalog.prices import snapshot
        from planner.recommend.costs import MODAL_USD_PER_CORE_SECOND, host_usd_per_hour

        from providers.modal.app import CPU_ONLY_CORES, CPU_ONLY_MEMORY_GIB
        from providers.modal.gpus import canonical_offered

        offered, rows = set(canonical_offered()), [r for r in snapshot() if r.cloud == "modal"]
        found = [Offer(r.gpu, r.gpus, r.usd_per_hour + host_usd_per_hour(r), False, r.source, r.as_of.isoformat(),
                       "any") for r in rows if r.gpu in offered]
        cpu = billing.rates("cpu", 0, CPU_ONLY_CORES, CPU_ONLY_MEMORY_GIB)
        cpu_rate = (Decimal(cpu["cpu_usd_per_hour"]) + Decimal(cpu["memory_usd_per_hour"])).quantize(Decimal("0.000001"))
        as_of = min((r.as_of for r in rows), default=None)
        note = f"Modal CPU ${MODAL_USD_PER_CORE_SECOND}/core-s + memory, as in planner.recommend.costs"
        found.append(Offer("cpu", 0, cpu_rate, False, note, as_of.isoformat() if as_of else "2026-05-07", "any"))
        return found

    def destination(self, plan: LaunchPlan) -> str:
        return (f"Modal: the bundle is added to the image of app {app_name(plan.run_id)} and runs there; "
                f"outputs and checkpoints go to Volume '{self.settings.volume}' folder {app_name(plan.run_id)}")

    def render_task(self, bundle: Bundle, plan: LaunchPlan) -> str:
        """``--dry-run``: the App as YAML, built by the SDK offline; nothing is deployed, no token is needed."""
        from providers.modal.dry_run import render

        return render(bundle, plan, self.settings, self.cap_s)

    # --- running ------------------------------------------------------------------------------------------
    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        built = build_app(bundle, plan, self.settings, self.cap_s)
        name = built.app.name
        with sdk_errors("deploying the app"), _not_found_is_a_fix(plan, self.settings.volume):
            built.app.deploy(name=name)
        try:
            with sdk_errors("starting the job"):
                call = built.function.spawn(built.job_for(0))
                tags = {**{k: tag_value(v) for k, v in plan.tags.items()}, TAG_SEGMENTS: str(built.segments.count)}
                built.app.set_tags({**tags, TAG_CALL: call.object_id, TAG_SEGMENT: "0"})
        except BaseException:
            _stop_app(name)
            raise
        return RunHandle(self.name, plan.run_id, name, {
            "app_name": name, "call_id": call.object_id, "segment": 0, "segments": built.segments.count,
            "volume": self.settings.volume, "output_dir": bundle.output_dir, "job": built.job,
            "launched_at": self.clock()})

    def status(self, handle: RunHandle) -> RunStatus:
        name = _app(handle)
        with sdk_errors("asking about the run"):
            tags = _live_tags(name)
            if tags is None:
                return RunStatus(RunState.UNKNOWN, "the Modal app is stopped (torn down)", exists=False)
            call_id, segment, outcome = self._follow(handle, tags)
            progress, _ = last_messages(self._log_tail(handle, STATUS_TAIL_BYTES).decode("utf-8", "replace").splitlines())
        return _status(outcome, progress, segment, int(handle.data.get("segments") or 1), handle)

    def logs(self, handle: RunHandle, follow: bool = False, tail_bytes: int | None = None) -> Iterator[str]:
        """The log lives on the Volume in parts of at most 1 MiB (the SDK reads a file only whole): a follow
        reads only the parts after what it has seen, a tail only the last parts."""
        yield from split_lines(self._log_chunks(handle, follow, tail_bytes))

    def _log_chunks(self, handle: RunHandle, follow: bool, tail_bytes: int | None) -> Iterator[bytes]:
        if tail_bytes is not None and not follow:
            with sdk_errors("reading the log"):
                yield self._log_tail(handle, tail_bytes)
            return
        position = 0
        while True:
            with sdk_errors("reading the log"):
                for chunk in volume_io.read_log_from(self._volume(handle), f"{_folder(handle)}/{LOG_DIR}", position,
                                                     f"{_folder(handle)}/run.log"):
                    position += len(chunk)
                    yield chunk
            if not follow or self._finished(handle):
                return
            time.sleep(LOG_POLL_S)

    def fetch_artifacts(self, handle: RunHandle, dest: Path, include_checkpoints: bool = False,
                        limits: PullLimits | None = None) -> list[str]:
        folder = f"{_folder(handle)}/work/{handle.data.get('output_dir') or 'out'}"
        with sdk_errors("downloading the outputs"):
            volume = self._volume(handle)
            if not include_checkpoints:
                volume_io.wait_for_manifest(volume, folder, self.manifest_wait_s)
            copied = volume_io.download_outputs(volume, folder, dest, include_checkpoints, limits)
        self._pulled.add(handle.run_id)
        return copied

    def ends_itself_after_s(self, handle: RunHandle) -> float | None:
        """The container scales to zero ``scaledown_window`` after the call returns; outputs are on the Volume."""
        return float(SCALEDOWN_S)

    def teardown(self, handle: RunHandle) -> None:
        name = _app(handle)
        with sdk_errors("tearing down"):
            tags = _live_tags(name) or {}
            for call_id in {handle.data.get("call_id"), tags.get(TAG_CALL)}:
                calls.cancel(call_id)
            if _stop_app(name):
                self._stopped_at.setdefault(handle.run_id, self.clock())
            if not self.settings.keep_outputs and handle.run_id in self._pulled:
                volume_io.remove_folder(self._volume(handle), _folder(handle))

    def list_resources(self) -> list[Resource]:
        modal = sdk()
        found = []
        with sdk_errors("listing apps"):
            for app in modal.Environment.from_context().apps.list():
                if not (app.name or "").startswith(RESOURCE_PREFIX):
                    continue
                tags = app.get_tags()
                run_id = tags.get(TAG_RUN) or app.name.removeprefix(RESOURCE_PREFIX)
                handle = RunHandle(self.name, run_id, app.name, {
                    "app_name": app.name, "call_id": tags.get(TAG_CALL), "segment": int(tags.get(TAG_SEGMENT) or 0),
                    "segments": int(tags.get(TAG_SEGMENTS) or 1), "volume": self.settings.volume})
                found.append(Resource(app.name, app.name, run_id, dict(tags), self.status(handle).state, handle,
                                      tag_form=tag_value))  # tag values were stored through tag_value
        return found

    def billed_cost(self, handle: RunHandle, ended_at: datetime | None = None) -> Decimal | None:
        """Modal's own figure, or None. The run's end is when this process stopped its App, else the ledger's
        teardown time (``ended_at``); until the report's whole-hour rows cover that end, the figure would be
        short, so there is none."""
        stopped = self._stopped_at.get(handle.run_id)
        ended_at = stopped if stopped is not None else (ended_at.timestamp() if ended_at is not None else None)
        if ended_at is None:
            return None
        launched_at = float(handle.data.get("launched_at") or ended_at)
        return billing.reported_cost(tag_value(handle.run_id), launched_at, ended_at, self.clock())

    # --- helpers ----------------------------------------------------------------------------------------
    def _follow(self, handle: RunHandle, tags: dict[str, str]) -> tuple[str | None, int, Outcome]:
        """The run's current call: the handle's, or a later segment's (from the app's tags, or spawned now)."""
        call_id, segment = handle.data.get("call_id"), int(handle.data.get("segment") or 0)
        if tags.get(TAG_CALL) and int(tags.get(TAG_SEGMENT) or 0) > segment:
            call_id, segment = tags[TAG_CALL], int(tags[TAG_SEGMENT])
        if not call_id:
            return None, segment, Outcome("running")
        outcome = calls.poll(call_id)
        job = handle.data.get("job") or {}
        past_deadline = time.time() >= float(job.get("deadline_at") or float("inf"))  # no next segment after it
        if outcome.kind == "stopped" and segment + 1 < int(handle.data.get("segments") or 1) and job and not past_deadline:
            call_id, segment, spawned = self._next_segment(handle, segment)
            outcome = Outcome("running") if spawned else calls.poll(call_id)
        return call_id, segment, outcome

    def _next_segment(self, handle: RunHandle, segment: int) -> tuple[str, int, bool]:
        """Spawn segment ``segment + 1`` unless another caller already has: (call id, segment, spawned here).
        Read-check-write-verify on the app's tags, the closest Modal comes to compare-and-set (module doc)."""
        modal = sdk()
        from providers.modal.app import FUNCTION_NAME

        app = modal.App.lookup(_app(handle))
        fresh = dict(app.get_tags())
        if fresh.get(TAG_CALL) and int(fresh.get(TAG_SEGMENT) or 0) > segment:
            return fresh[TAG_CALL], int(fresh[TAG_SEGMENT]), False
        call = modal.Function.from_name(_app(handle), FUNCTION_NAME).spawn({**handle.data["job"], "segment": segment + 1})
        app.set_tags({**fresh, TAG_CALL: call.object_id, TAG_SEGMENT: str(segment + 1)})
        after = dict(app.get_tags())
        if after.get(TAG_CALL) and after[TAG_CALL] != call.object_id:
            calls.cancel(call.object_id)  # another caller's write landed after ours: theirs is the chain
            return after[TAG_CALL], int(after.get(TAG_SEGMENT) or segment + 1), False
        return call.object_id, segment + 1, True

    def _finished(self, handle: RunHandle) -> bool:
        status = self.status(handle)
        return status.state.terminal or not status.exists

    def _volume(self, handle: RunHandle):
        return sdk().Volume.from_name(handle.data.get("volume") or self.settings.volume)

    def _log_tail(self, handle: RunHandle, max_bytes: int) -> bytes:
        return volume_io.read_log_tail(self._volume(handle), f"{_folder(handle)}/{LOG_DIR}", max_bytes,
                                       f"{_folder(handle)}/run.log") or b""


def _status(outcome: Outcome, progress: dict | None, segment: int, segments: int, handle: RunHandle) -> RunStatus:
    where = f" (segment {segment + 1} of {segments})" if segments > 1 else ""
    if outcome.kind == "running":
        if progress:
            return RunStatus(RunState.RUNNING, f"running{where}", True, progress)
        return RunStatus(RunState.PROVISIONING, f"waiting for a Modal container{where}", True)
    if outcome.kind == "succeeded":
        return RunStatus(RunState.SUCCEEDED, "", True, progress, 0, None, outcome.started_at, outcome.ended_at)
    if outcome.kind == "stopped":
        limit = (handle.data.get("job") or {}).get("stop_after_s")
        error = f"hard runtime limit reached ({outcome.error or 'segment time used up'}; {segments} segment(s)" + (
            f" of {limit:.0f} s" if limit else "") + ")"
        return RunStatus(RunState.BUDGET_STOPPED, error, True, progress, outcome.exit_code, error,
                         outcome.started_at, outcome.ended_at)
    if outcome.kind == "cancelled":
        return RunStatus(RunState.CANCELLED, outcome.error or "cancelled", True, progress, error=outcome.error)
    if outcome.kind == "expired":
        return RunStatus(RunState.UNKNOWN, outcome.error or "", True, progress, error=outcome.error)
    error = outcome.error or f"exit code {outcome.exit_code}"
    return RunStatus(RunState.FAILED, error, True, progress, outcome.exit_code, error, outcome.started_at, outcome.ended_at)


def _app(handle: RunHandle) -> str:
    return str(handle.data.get("app_name") or handle.resource_id)


def _folder(handle: RunHandle) -> str:
    return str((handle.data.get("job") or {}).get("run_folder") or _app(handle))


def _live_tags(name: str) -> dict[str, str] | None:
    """The app's tags while it is deployed; None once it is stopped (or was never there)."""
    modal = sdk()
    import modal.exception as mx

    try:
        return dict(modal.App.lookup(name).get_tags())
    except mx.NotFoundError:
        return None


def _stop_app(name: str) -> bool:
    """Stop the App; False when it was already stopped (or never deployed)."""
    modal = sdk()
    import modal.exception as mx

    try:
        modal.App.lookup(name).stop()
    except mx.NotFoundError:
        return False
    return True


@contextmanager
def _not_found_is_a_fix(plan: LaunchPlan, volume: str) -> Iterator[None]:
    """Deploying resolves every named Secret: a missing one is Modal's NotFoundError, said here with the fix."""
    import modal.exception

    try:
        yield
    except modal.exception.NotFoundError as exc:
        text = " ".join(str(exc).split())[:200]
        if "secret" in text.lower():
            import re

            named = re.search(r"[Ss]ecret '([^']+)'", text)
            name = named.group(1) if named else (plan.secrets[0] if plan.secrets else "NAME")
            fix = f"create it in Modal: modal secret create {name} {name}=<value>"
        else:
            fix = f"check the Volume {volume} (setting modal.volume) and your Modal environment"
        raise ProviderError(f"Modal could not deploy the run ({text}); {fix}") from None
