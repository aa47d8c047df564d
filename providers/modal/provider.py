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
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from providers.base import Provider
from providers.modal import billing, calls, volume_io
from providers.modal.app import TAG_CALL, TAG_SEGMENT, app_name, build_app, tag_value
from providers.modal.calls import LOGIN_HINT, Outcome, sdk, sdk_errors
from providers.modal.segments import MODAL_MAX_TIMEOUT_S
from providers.protocol import last_messages
from providers.settings import ModalSettings
from providers.types import (
    RESOURCE_PREFIX,
    TAG_RUN,
    Bundle,
    Capability,
    CheckResult,
    LaunchPlan,
    Offer,
    Resource,
    RunHandle,
    RunState,
    RunStatus,
)

TAG_SEGMENTS = "tuneplan-segments"
LOG_POLL_S = 1.0


class ModalProvider(Provider):
    """Runs bundles as Modal function calls. ``cap_s`` is Modal's per-call limit (tests lower it)."""

    name = "modal"

    def __init__(self, settings: ModalSettings | None = None, cap_s: int = MODAL_MAX_TIMEOUT_S) -> None:
        if settings is None:
            from providers.settings import load_settings

            settings = load_settings().modal
        self.settings = settings
        self.cap_s = cap_s
        self._seconds: dict[str, float] = {}

    # --- what it is -------------------------------------------------------------------------------------
    def capabilities(self) -> list[Capability]:
        return [
            Capability("spot", False, "Modal has one serverless price per GPU-second; there is no spot tier"),
            Capability("multi_node", False, "one container holds at most 8 GPUs (A10: 4); no multi-node runs"),
            Capability("billing", True, "Modal's billing report by the run's app tag; until it has the run, "
                                        "per-second GPU, CPU and memory rates × the containers' seconds"),
            Capability("runtime_limit", True, "the function timeout (at most 24 h a call); longer runs continue "
                                              "in new calls from the last checkpoint on the Volume"),
            Capability("secrets", True, "named Modal secrets (modal secret create NAME NAME=value); the values "
                                        "never pass through tuneplan"),
        ]

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

    # --- running ------------------------------------------------------------------------------------------
    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        built = build_app(bundle, plan, self.settings, self.cap_s)
        name = built.app.name
        with sdk_errors("deploying the app"):
            built.app.deploy(name=name)
        try:
            with sdk_errors("starting the job"):
                call = built.function.spawn(built.job_for(0))
                tags = {**{k: tag_value(v) for k, v in plan.tags.items()}, TAG_SEGMENTS: str(built.segments.count)}
                built.app.set_tags({**tags, TAG_CALL: call.object_id, TAG_SEGMENT: "0"})
        except BaseException:
            _stop_app(name)
            raise
        rates = billing.rates(plan.gpu, built.resources.gpus, built.resources.cpu_cores, built.resources.memory_gib)
        return RunHandle(self.name, plan.run_id, name, {
            "app_name": name, "call_id": call.object_id, "segment": 0, "segments": built.segments.count,
            "volume": self.settings.volume, "output_dir": bundle.output_dir, "job": built.job,
            "launched_at": time.time(), "rates": rates})

    def status(self, handle: RunHandle) -> RunStatus:
        name = _app(handle)
        with sdk_errors("asking about the run"):
            tags = _live_tags(name)
            if tags is None:
                return RunStatus(RunState.UNKNOWN, "the Modal app is stopped (torn down)", exists=False)
            call_id, segment, outcome = self._follow(handle, tags)
            progress, _ = last_messages((self._log_text(handle) or "").splitlines())
        return _status(outcome, progress, segment, int(handle.data.get("segments") or 1), handle)

    def logs(self, handle: RunHandle, follow: bool = False) -> Iterator[str]:
        position, pending = 0, ""
        while True:
            with sdk_errors("reading the log"):
                text = self._log_text(handle) or ""
            chunk, position = text[position:], len(text)
            *lines, pending = (pending + chunk).split("\n")
            yield from lines
            if not follow or self._finished(handle):
                break
            time.sleep(LOG_POLL_S)
        if pending:
            yield pending

    def fetch_artifacts(self, handle: RunHandle, dest: Path, include_checkpoints: bool = False) -> list[str]:
        folder = f"{_folder(handle)}/work/{handle.data.get('output_dir') or 'out'}"
        with sdk_errors("downloading the outputs"):
            return volume_io.download_outputs(self._volume(handle), folder, dest, include_checkpoints)

    def teardown(self, handle: RunHandle) -> None:
        name = _app(handle)
        with sdk_errors("tearing down"):
            tags = _live_tags(name) or {}
            for call_id in {handle.data.get("call_id"), tags.get(TAG_CALL)}:
                calls.cancel(call_id)
            _stop_app(name)
            seconds = self._container_seconds(handle)
            if seconds is not None:
                self._seconds[handle.run_id] = seconds
            if not self.settings.keep_outputs:
                try:
                    self._volume(handle).remove_file(_folder(handle), recursive=True)
                except FileNotFoundError:
                    pass

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
                found.append(Resource(app.name, app.name, run_id, dict(tags), self.status(handle).state, handle))
        return found

    def billed_cost(self, handle: RunHandle) -> Decimal | None:
        reported = billing.reported_cost(handle.run_id, float(handle.data.get("launched_at") or time.time()))
        if reported is not None:
            return reported
        seconds = self._seconds.get(handle.run_id)
        if seconds is None:
            with sdk_errors("reading the run's segments"):
                seconds = self._container_seconds(handle)
        if seconds is None or not handle.data.get("rates"):
            return None
        return billing.computed_cost(handle.data["rates"], seconds)

    # --- helpers ----------------------------------------------------------------------------------------
    def _follow(self, handle: RunHandle, tags: dict[str, str]) -> tuple[str | None, int, Outcome]:
        """The run's current call: the handle's, or a later segment's (from the app's tags, or spawned now)."""
        call_id, segment = handle.data.get("call_id"), int(handle.data.get("segment") or 0)
        if tags.get(TAG_CALL) and int(tags.get(TAG_SEGMENT) or 0) > segment:
            call_id, segment = tags[TAG_CALL], int(tags[TAG_SEGMENT])
        if not call_id:
            return None, segment, Outcome("running")
        outcome = calls.poll(call_id)
        if outcome.kind == "stopped" and segment + 1 < int(handle.data.get("segments") or 1) and handle.data.get("job"):
            call_id, segment = self._spawn_segment(handle, tags, segment + 1), segment + 1
            outcome = Outcome("running")
        return call_id, segment, outcome

    def _spawn_segment(self, handle: RunHandle, tags: dict[str, str], segment: int) -> str:
        modal = sdk()
        from providers.modal.app import FUNCTION_NAME

        function = modal.Function.from_name(_app(handle), FUNCTION_NAME)
        call = function.spawn({**handle.data["job"], "segment": segment})
        modal.App.lookup(_app(handle)).set_tags({**tags, TAG_CALL: call.object_id, TAG_SEGMENT: str(segment)})
        return call.object_id

    def _finished(self, handle: RunHandle) -> bool:
        status = self.status(handle)
        return status.state.terminal or not status.exists

    def _volume(self, handle: RunHandle):
        return sdk().Volume.from_name(handle.data.get("volume") or self.settings.volume)

    def _log_text(self, handle: RunHandle) -> str | None:
        return volume_io.read_text(self._volume(handle), f"{_folder(handle)}/run.log")

    def _container_seconds(self, handle: RunHandle) -> float | None:
        """Seconds the run's calls ran, from the ``segment-<n>.json`` each wrote on the Volume."""
        volume, folder, total = self._volume(handle), _folder(handle), 0.0
        try:
            names = [rel for rel, _ in volume_io.list_files(volume, folder)
                     if rel.startswith("segment-") and rel.endswith(".json")]
        except FileNotFoundError:
            return None
        for rel in names:
            try:
                record = json.loads(volume_io.read_bytes(volume, f"{folder}/{rel}"))
                total += max(0.0, float(record["ended_at"]) - float(record["started_at"]))
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                continue
        return total if names else None


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


def _stop_app(name: str) -> None:
    modal = sdk()
    import modal.exception as mx

    try:
        modal.App.lookup(name).stop()
    except mx.NotFoundError:
        pass
