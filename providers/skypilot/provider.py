"""The SkyPilot provider: one run = one cluster named ``tp-<run id>`` (on-demand), or one managed job of
that name (spot, so SkyPilot recovers it after a preemption).

``launch`` only submits the request and returns its id in the handle: provisioning takes minutes and
goes on in SkyPilot's API server, so the lifecycle sees ``pending``/``provisioning`` through ``status``.
The cluster deletes itself (autostop with ``down``) after the job plus ``idle_minutes``, and setup and
run work under ``timeout`` against one absolute deadline fixed at launch, so the budget holds when
tuneplan is gone and across a managed job's recoveries. ``teardown`` cancels a launch still in flight,
then ``sky.down`` (or cancels every unfinished managed job of that name by id); gone already is fine.

Managed jobs: ``queue_v2`` raises ClusterNotUpError when no jobs controller is up (no managed job in
progress), and reports ``labels`` None while a job has no machine (PENDING, STARTING, RECOVERING; jobs/
utils.py:3454-3498), so our tags are read back from the job's own task YAML (``user_yaml``) then.

There is no bill to ask: SkyPilot's ``cost-report`` is itself rate × time from its catalog, so
``billed_cost`` is None and the ledger uses rate × duration (CONTRACTS §7).
"""

from __future__ import annotations

import copy
from dataclasses import replace
import os
import time
from collections.abc import Iterator
from pathlib import Path

from providers.base import Provider
from providers.log_lines import last_lines, split_lines
from providers.pull_limits import PullLimits
from providers.skypilot import fetch, sdk
from providers.skypilot.controller import controller_overhead, disk_note
from providers.skypilot.launched import launched_on
from providers.skypilot.managed import CANCEL_WAIT_S, ManagedJobs
from providers.skypilot.outcome import job_tags, managed_handle, with_log
from providers.skypilot import states as st
from providers.skypilot.task_config import (
    TaskOptions,
    bucket_prefix,
    hand_launch_hint,
    label_value,
    is_managed,
    options_for_bundle,
    remote_output_dir,
    render_yaml,
    task_config,
)
from providers.types import (
    RESOURCE_PREFIX,
    TERMINAL_STATES,
    Bundle,
    Capability,
    CheckResult,
    LaunchPlan,
    Offer,
    Overhead,
    ProviderError,
    Resource,
    RunHandle,
    RunState,
    RunStatus,
)

LOG_TAIL_CHARS = 256 * 1024  # however long the lines: status never holds more of the log than this
LOG_TAIL_LINES = 300


class SkyPilotProvider(ManagedJobs, Provider):
    """Runs bundles through SkyPilot. ``sdk`` is the ``sky`` package (tests pass a fake of its calls)."""

    name = "skypilot"

    def __init__(self, options: TaskOptions | None = None, sdk_module=None, rsync: str = "rsync",
                 poll_s: float = 2.0, now=time.time, request_timeout_s: float = sdk.REQUEST_TIMEOUT_S,
                 slow_request_timeout_s: float = sdk.SLOW_REQUEST_TIMEOUT_S) -> None:
        self.options = options or TaskOptions()
        self._sdk = sdk_module
        self._real_sdk = sdk_module is None
        self.rsync = rsync
        self.poll_s = poll_s
        self.now = now
        self.request_timeout_s = request_timeout_s
        self.slow_request_timeout_s = slow_request_timeout_s
        self.cancel_wait_s = CANCEL_WAIT_S

    @property
    def sky(self):
        if self._sdk is None:
            self._sdk = sdk.load_sky()
        return self._sdk

    # --- what it is -------------------------------------------------------------------------------------
    def capabilities(self) -> list[Capability]:
        return [
            Capability("spot", True, "spot runs are SkyPilot managed jobs: preemptions are recovered and the "
                       "job resumes from its last checkpoint in the bucket (settings: skypilot.bucket)"),
            Capability("multi_node", False, "one node per run (up to 8 GPUs)"),
            Capability("billing", False, "SkyPilot has no bill to ask; cost is the chosen machine's rate × time"),
            Capability("runtime_limit", True, "setup and the job run under `timeout` on the machine against one "
                       "deadline fixed at launch (it holds across spot recoveries), and the cluster autodowns when idle"),
            Capability("secrets", True, "named secrets are sent with the launch request (SkyPilot `secrets:`), "
                       "never written to the task YAML"),
        ]

    def ready_here(self) -> CheckResult:
        import importlib.util

        if importlib.util.find_spec("sky") is None:
            return CheckResult(False, "SkyPilot is not installed", sdk.INSTALL_HINT)
        return CheckResult(True, "SkyPilot installed")

    def check(self) -> CheckResult:
        try:
            sky = self.sky
            url, local = sdk.endpoint(sky)
        except ProviderError as exc:
            return CheckResult(False, str(exc), sdk.INSTALL_HINT)
        where = (f"local API server {url} (SkyPilot starts it on first use; it keeps running: `sky api stop`)"
                 if local else f"API server {url} (your configured endpoint)")
        version = getattr(sky, "__version__", "?")
        missing = sdk.missing_cloud_extras(self.options.clouds)
        if missing:  # SkyPilot cannot use a cloud whose SDK is not installed, whatever the credentials
            extras = ",".join(f"skypilot-{cloud}" for cloud in missing)
            usable = [c for c in self.options.clouds if c not in missing]
            return CheckResult(bool(usable), f"SkyPilot {version} via {where}; without their SDKs here it cannot use "
                               f"{', '.join(missing)}" + (f" (only {', '.join(usable)})" if usable else ""),
                               f"pip install 'tuneplan[{extras}]', or leave those clouds out of skypilot.clouds")
        return CheckResult(True, f"SkyPilot {version} via {where}", "`sky check` shows which clouds your credentials enable")

    def offers(self) -> list[Offer]:
        from planner.catalog.prices import LAUNCHER_OF_CLOUD
        from providers.prices_refresh import current_prices

        return [Offer(row.gpu, row.gpus, row.usd_per_hour, False, row.source, row.as_of.isoformat(), row.region)
                for row in current_prices() if LAUNCHER_OF_CLOUD.get(row.cloud) == self.name]

    def overheads(self, spot: bool) -> list[Overhead]:
        """A spot run is a managed job: SkyPilot's jobs controller VM bills alongside it."""
        return [controller_overhead(self.options.controller_usd_per_hour)] if spot else []

    def ends_itself_after_s(self, handle: RunHandle) -> float | None:
        """A managed job's machine goes as the job ends (the controller downs it; outputs are in the bucket);
        a cluster autodowns after ``idle_minutes`` without jobs."""
        return 0.0 if managed_handle(handle) else self.options.idle_minutes * 60.0

    def destination(self, plan: LaunchPlan) -> str:
        kind = "a managed spot job" if is_managed(plan) else "a cluster"
        store = f"; outputs and checkpoints go to {self.options.bucket}; {disk_note()}" if is_managed(plan) else ""
        return (f"uploaded by SkyPilot to {kind} named {plan.resource_name} on whichever of "
                f"{', '.join(self.options.clouds)} is cheapest for the task{store}")

    # --- the task -----------------------------------------------------------------------------------------
    def task_options(self, bundle: Bundle) -> TaskOptions:
        return options_for_bundle(self.options, bundle)

    def task_dict(self, bundle: Bundle, plan: LaunchPlan, deadline: int | None = None) -> dict:
        if is_managed(plan) and not self.options.bucket:
            raise ProviderError("spot runs on SkyPilot are managed jobs that keep outputs and checkpoints in a "
                                "bucket: set skypilot.bucket (e.g. s3://my-bucket/tuneplan) in settings.yaml")
        try:
            return task_config(bundle, plan, self.task_options(bundle), deadline)
        except ValueError as exc:
            raise ProviderError(f"cannot build the SkyPilot task: {exc}") from None

    def render_task(self, bundle: Bundle, plan: LaunchPlan) -> str:
        """The task YAML a user can launch by hand (secret names only: ``sky launch --secret NAME``)."""
        return render_yaml(self.task_dict(bundle, plan))

    def launch_hint(self, path: Path, plan: LaunchPlan) -> str:
        return hand_launch_hint(path, plan, self.options.idle_minutes)

    def _task(self, bundle: Bundle, plan: LaunchPlan, deadline: int):
        """A real ``sky.Task`` with the secret values added in memory only."""
        config = copy.deepcopy(self.task_dict(bundle, plan, deadline))
        values = [(name, os.environ[name]) for name in sorted(config.get("secrets") or {}) if os.environ.get(name)]
        if values:
            config["secrets"] = {name: None for name, _ in values}
        else:
            config.pop("secrets", None)
        try:
            return self.sky.Task.from_yaml_config(config, secrets_overrides=values or None)
        except Exception as exc:  # SkyPilot's own validation: one line, secrets scrubbed
            raise sdk.fail(exc, "rejected the task", [v for _, v in values]) from None

    # --- running ------------------------------------------------------------------------------------------
    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        deadline = int(self.now()) + int(plan.max_runtime_s)
        task = self._task(bundle, plan, deadline)
        secrets = [os.environ.get(n, "") for n in plan.secrets]
        managed = is_managed(plan)
        def submit():
            if managed:
                return self.sky.jobs.launch(task, name=plan.resource_name)
            return self.sky.launch(task, cluster_name=plan.resource_name, down=True,
                                   idle_minutes_to_autostop=self.options.idle_minutes)

        try:  # the submission uploads the workdir: bounded, and never retried (it may have been accepted)
            request = sdk.bounded(submit, self.slow_request_timeout_s, "launch submission")
        except sdk.NoAnswer:
            raise ProviderError(f"SkyPilot did not confirm the launch of {plan.resource_name} within "
                                f"{self.slow_request_timeout_s:g} s; it may have started: `tuneplan reap` finds it") from None
        except Exception as exc:  # the request never reached the server
            raise sdk.fail(exc, "could not submit the launch", secrets) from None
        data = {"mode": "managed" if managed else "cluster", "launch_request": str(request),
                "output_dir": bundle.output_dir, "deadline": deadline}
        if managed:
            data["bucket"] = bucket_prefix(self.options.bucket or "", plan)
        return RunHandle(self.name, plan.run_id, plan.resource_name, data)

    def status(self, handle: RunHandle) -> RunStatus:
        if managed_handle(handle):
            return self._managed_status(handle)
        return self._cluster_status(handle)

    def _cluster_status(self, handle: RunHandle) -> RunStatus:
        record = self._cluster_record(handle.resource_id)
        if record is None:
            return self._without_resource(handle)
        state, message = st.cluster_state(record.get("status"))
        if st.state_name(record.get("status")) == "INIT":
            failed = self._failed_launch(handle)
            if failed is not None:
                return failed
        launched = launched_on(record, spot=False)
        if state != RunState.RUNNING:
            return RunStatus(state, message, launched=launched)
        job = self._cluster_job(handle.resource_id)
        if job is None:
            return RunStatus(RunState.PROVISIONING, "cluster up; job not submitted yet", launched=launched)
        state, message = st.job_state(job.get("status"))
        lines = self._tail(handle) if state in (RunState.RUNNING, *TERMINAL_STATES) else []
        status = with_log(state, message, lines, job.get("status"), job.get("start_at"), job.get("end_at"))
        return replace(status, launched=launched)

    def _without_resource(self, handle: RunHandle) -> RunStatus:
        """No cluster/job by that name: still launching, the launch failed, or it is gone."""
        request = handle.data.get("launch_request")
        state, _ = self._launch_state(handle)
        if state in sdk.LIVE_REQUEST_STATES:
            return RunStatus(RunState.PENDING, "SkyPilot is choosing and provisioning a machine")
        failed = self._failed_launch(handle) if request else None
        if failed is not None:
            return failed
        return RunStatus(RunState.UNKNOWN, "no cluster or job by that name (torn down, or autodowned)", exists=False)

    def _launch_state(self, handle: RunHandle) -> tuple[str, str]:
        request = handle.data.get("launch_request")
        return sdk.request_state(self.sky, request, self.request_timeout_s) if request else ("UNKNOWN", "")

    def _failed_launch(self, handle: RunHandle) -> RunStatus | None:
        """``failed`` when the launch request failed: a cluster it left in INIT would otherwise read as
        provisioning forever (it exists, so teardown still downs it)."""
        state, error = self._launch_state(handle)
        if state != "FAILED":
            return None
        reason = f"SkyPilot launch failed: {error or 'no reason given'}"
        return RunStatus(RunState.FAILED, reason, True, error=reason)

    def logs(self, handle: RunHandle, follow: bool = False, tail_bytes: int | None = None) -> Iterator[str]:
        if follow:
            self._wait_for_job(handle)
        if follow:  # a quiet job may print nothing for a long time: only the stream's own end stops it
            chunks = sdk.until_none(self._log_stream(handle, follow))
        else:  # a finished log streams without pauses: a silent stream is a stuck server, not a quiet job
            chunks = sdk.until_none(sdk.idle_bounded(lambda: self._log_stream(handle, False), self.request_timeout_s,
                                                     f"logs of {handle.resource_id}"))
        try:
            lines = (sdk.clean_line(line) for line in split_lines(chunks))
            if tail_bytes is not None and not follow:
                lines = iter(last_lines(lines, tail_bytes)[0])
            yield from lines
        except ProviderError:
            raise
        except Exception as exc:  # a gone cluster, a dropped stream: one line
            raise sdk.fail(exc, f"logs of {handle.resource_id}") from None

    def fetch_artifacts(self, handle: RunHandle, dest: Path, include_checkpoints: bool = False,
                        limits: PullLimits | None = None) -> list[str]:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        what = f"pulling the artifacts of {handle.resource_id}"
        budget = (limits or PullLimits()).start()
        if managed_handle(handle):
            command, env = fetch.bucket_sync_command(str(handle.data["bucket"]), dest, include_checkpoints)
            fetch.run_copy(command, what, dest, budget, env)
        else:
            record = self._cluster_record(handle.resource_id, credentials=True)
            if record is None:
                raise ProviderError(f"{handle.resource_id}: no such cluster (torn down, or autodowned)")
            fetch.ssh_config_for(self.sky, record)
            output_dir = remote_output_dir(str(handle.data.get("output_dir") or "out"))
            fetch.run_copy(fetch.rsync_command(self.rsync, handle.resource_id, output_dir, dest, include_checkpoints,
                                               budget.limits.max_bytes), what, dest, budget)
        return fetch.listed(dest, include_checkpoints)

    def teardown(self, handle: RunHandle) -> None:
        request = handle.data.get("launch_request")
        if request and self._launch_state(handle)[0] in sdk.LIVE_REQUEST_STATES:
            self._quietly(lambda: self._resolve(lambda: self.sky.api_cancel(request), "cancelling the launch"))
        if managed_handle(handle):
            self._cancel_managed(handle.resource_id)
            return
        self._quietly(lambda: self._resolve(lambda: self.sky.down(handle.resource_id), f"down {handle.resource_id}",
                                            slow=True))

    def list_resources(self) -> list[Resource]:
        """Clusters and managed jobs named ``tp-…``, each listed on its own: no jobs controller means no
        managed jobs, not a failure. ``reap`` asks only when the ledger holds SkyPilot runs; a local API
        server that is not running is not started just to look (it would outlive us): that is a
        ProviderError, which reap shows as "unchecked" without judging those runs."""
        if self._real_sdk:
            self._sdk = sdk.load_sky()
            if sdk.local_server_not_running():
                raise ProviderError(sdk.SERVER_DOWN)
        found = []
        for record in self._resolve(lambda: self.sky.status(None, all_users=True), "listing clusters") or []:
            name = str(record.get("name") or "")
            if name.startswith(RESOURCE_PREFIX):
                handle = RunHandle(self.name, name.removeprefix(RESOURCE_PREFIX), name, {"mode": "cluster"})
                found.append(Resource(name, name, handle.run_id, dict(record.get("labels") or {}),
                                      self.status(handle).state, handle, record.get("launched_at"), label_value))
        for job in self._managed_jobs(RESOURCE_PREFIX, skip_finished=True, fields=[*sdk.QUEUE_FIELDS, "user_yaml"]):
            name = str(job.get("job_name") or "")
            handle = RunHandle(self.name, name.removeprefix(RESOURCE_PREFIX), name, {"mode": "managed"})
            found.append(Resource(name, name, handle.run_id, job_tags(job),
                                  st.managed_job_state(job.get("status"))[0], handle, job.get("submitted_at"),
                                  label_value))
        return found

    # --- SDK reads ------------------------------------------------------------------------------------
    def _resolve(self, request, doing: str, slow: bool = False, passthrough: tuple[str, ...] = ()):
        timeout_s = self.slow_request_timeout_s if slow else self.request_timeout_s
        return sdk.resolve(self.sky, request, doing, timeout_s=timeout_s, passthrough=passthrough)

    def _cluster_record(self, name: str, credentials: bool = False):
        kwargs = {"_include_credentials": True} if credentials else {}
        records = self._resolve(lambda: self.sky.status([name], all_users=True, **kwargs), f"status of {name}")
        return next((r for r in records or [] if r.get("name") == name), None)

    def _cluster_job(self, name: str):
        """Our job on the cluster: the newest one (a tuneplan cluster runs one job)."""
        try:
            jobs = self._resolve(lambda: self.sky.queue(name, all_users=True), f"job queue of {name}")
        except Exception as exc:  # the cluster went between the two calls
            if sdk.is_gone(exc):
                return None
            raise
        return max(jobs or [], key=lambda j: j.get("job_id") or 0, default=None)

    def _log_stream(self, handle: RunHandle, follow: bool):
        if managed_handle(handle):
            return self.sky.jobs.tail_logs(name=handle.resource_id, follow=follow, preload_content=False)
        return self.sky.tail_logs(handle.resource_id, None, follow, preload_content=False)

    def _tail(self, handle: RunHandle) -> list[str]:
        """The job's last lines, for progress and the done/limit lines."""
        out = sdk.TailText(LOG_TAIL_CHARS)

        def read() -> None:
            if managed_handle(handle):
                self.sky.jobs.tail_logs(name=handle.resource_id, follow=False, tail=LOG_TAIL_LINES, output_stream=out)
            else:
                self.sky.tail_logs(handle.resource_id, None, False, tail=LOG_TAIL_LINES, output_stream=out)

        try:
            sdk.bounded(read, self.request_timeout_s, "log tail")
        except Exception:  # noqa: BLE001 - logs are a nicety for status: none (or no answer in time) is not an error
            return []
        return [sdk.clean_line(line) for line in out.getvalue().splitlines()]

    def _wait_for_job(self, handle: RunHandle) -> None:
        while True:
            status = self.status(handle)
            if status.state not in (RunState.PENDING, RunState.PROVISIONING) or not status.exists:
                return
            time.sleep(self.poll_s)

    @staticmethod
    def _quietly(call) -> None:
        """Teardown is idempotent: "already gone" is success."""
        try:
            call()
        except Exception as exc:
            if not sdk.is_gone(exc):
                raise
