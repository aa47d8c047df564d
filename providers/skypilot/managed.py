"""SkyPilot managed jobs (how spot runs go), as the provider asks about them: their state, the outcome of one
the queue no longer shows, and cancelling them by id.

The jobs controller is a VM of its own: ``jobs.queue_v2(refresh=False)`` raises ClusterNotUpError while it is
not up (never launched, or autostopped ~10 minutes after the last job), ``jobs.cancel`` only signals a running
job (the controller acts within seconds), and jobs report ``labels`` None while they have no machine.
A mixin of ``SkyPilotProvider``: it uses the provider's SDK handle, poll interval and call deadlines.
"""

from __future__ import annotations

import time
from decimal import Decimal
from dataclasses import replace

from providers.skypilot import fetch, sdk
from providers.skypilot import states as st
from providers.skypilot.launched import launched_on
from providers.skypilot.outcome import with_log
from providers.types import TERMINAL_STATES, ProviderError, RunHandle, RunState, RunStatus, TransientProviderError

CANCEL_WAIT_S = 90.0  # how long a cancelled managed job may take to reach CANCELLING


class ManagedJobs:
    def _managed_status(self, handle: RunHandle) -> RunStatus:
        job = self._managed_record(handle.resource_id)
        if job is None:
            return self._outcome_after_autostop(handle) or self._without_resource(handle)
        state, message = st.managed_job_state(job.get("status"))
        recoveries = job.get("recovery_count") or 0
        if recoveries:
            message += f" (recovered from {recoveries} preemption{'s' if recoveries > 1 else ''})"
        lines = self._tail(handle) if state in (RunState.RUNNING, *TERMINAL_STATES) else []
        status = with_log(state, message, lines, job.get("status"), job.get("start_at"), job.get("end_at"))
        if state == RunState.FAILED and job.get("failure_reason") and not status.error:
            reason = sdk.scrub(job.get("failure_reason"))
            status = replace(status, message=reason, error=reason)
        return replace(status, launched=self._with_controller(launched_on(job, spot=True)))

    def _with_controller(self, machine):
        """The rate of a managed job's machine plus the jobs controller's (as the estimate counted it)."""
        if machine is None or machine.usd_per_hour is None:
            return machine
        extra = sum((o.usd_per_hour for o in self.overheads(True)), Decimal(0))
        return replace(machine, usd_per_hour=machine.usd_per_hour + extra,
                       source=f"{machine.source} + jobs controller ${extra}/h")

    def _outcome_after_autostop(self, handle: RunHandle) -> RunStatus | None:
        """A managed job the queue no longer shows: the jobs controller autostops ~10 minutes after the last
        job ends, and ``queue_v2(refresh=False)`` then raises ClusterNotUpError as if there never was a job.
        The outputs are in the bucket: a complete manifest there means it succeeded; else the queue is asked
        with ``refresh=True`` (which brings the controller up again) before anything is called lost."""
        import json

        bucket = str(handle.data.get("bucket") or "")
        raw = fetch.read_bucket_file(f"{bucket.rstrip('/')}/manifest.json") if bucket else None
        try:
            manifest = json.loads(raw) if raw else None
        except ValueError:
            manifest = None
        if isinstance(manifest, dict) and manifest.get("complete") is True:
            return RunStatus(RunState.SUCCEEDED, "the jobs controller has stopped; the outputs are complete in "
                             f"{bucket}", True)
        jobs = [j for j in self._managed_jobs(handle.resource_id, refresh=True) if j.get("job_name") == handle.resource_id]
        if not jobs:
            return None
        job = max(jobs, key=lambda j: j.get("job_id") or 0)
        state, message = st.managed_job_state(job.get("status"))
        return RunStatus(state, message, True, None, None, job.get("failure_reason") if state == RunState.FAILED
                         else None, job.get("start_at"), job.get("end_at"))

    def _cancel_managed(self, name: str) -> None:
        """Cancel every unfinished managed job named ``name`` by id, then check that none is left.

        Not ``jobs.cancel(name=...)``: with two unfinished jobs of one name it cancels nothing and only
        logs "Multiple running jobs found" (sky/jobs/utils.py:1897-1903), which its caller does not
        recognise as an error (jobs/server/core.py checks for "Multiple jobs found"), so the request succeeds.
        """
        ids = [j.get("job_id") for j in self._unfinished(name)]
        if not ids:
            return
        self._resolve(lambda: self.sky.jobs.cancel(job_ids=ids), f"cancelling {name} (job {', '.join(map(str, ids))})",
                      slow=True)
        left = self._still_running(name)
        if left:
            described = ", ".join(f"{j.get('job_id')} ({st.state_name(j.get('status'))})" for j in left)
            raise ProviderError(f"SkyPilot managed job {name} is still running after cancel: job {described}; "
                                f"end it with `sky jobs cancel {' '.join(str(j.get('job_id')) for j in left)}`")

    def _still_running(self, name: str) -> list:
        """The jobs of ``name`` not yet CANCELLING or ended, waiting up to ``cancel_wait_s``: ``jobs.cancel`` only
        signals a running job, and its controller acts on the signal within seconds (sky/jobs/utils.py
        cancel_jobs_by_id), so an answer taken at once would call a working cancel a failure."""
        deadline = time.monotonic() + self.cancel_wait_s
        while True:
            left = [j for j in self._unfinished(name) if st.state_name(j.get("status")) != "CANCELLING"]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def _unfinished(self, name: str) -> list:
        return [j for j in self._managed_jobs(name, skip_finished=True)
                if j.get("job_name") == name and not st.managed_job_state(j.get("status"))[0].terminal]

    def _managed_jobs(self, name_match: str, skip_finished: bool = False, fields: list[str] = sdk.QUEUE_FIELDS,
                      refresh: bool = False) -> list:
        """Managed jobs whose name starts with ``name_match``; none when no jobs controller is up (unless
        ``refresh``, which starts a stopped controller)."""
        def request():
            return self.sky.jobs.queue_v2(refresh=refresh, skip_finished=skip_finished, all_users=True,
                                          name_match=name_match, fields=fields)
        try:
            result = self._resolve(request, "managed job queue", passthrough=(sdk.NOT_UP,))
        except Exception as exc:  # ClusterNotUpError, re-raised as it is by name
            if sdk.no_managed_jobs(exc):
                return []
            if type(exc).__name__ == sdk.NOT_UP:  # the controller exists but does not answer
                raise TransientProviderError(f"SkyPilot managed job queue: {sdk.scrub(str(exc))}") from None
            raise
        records = result[0] if isinstance(result, tuple) else result
        return [r for r in records or [] if str(r.get("job_name") or "").startswith(name_match)]

    def _managed_record(self, name: str):
        jobs = [j for j in self._managed_jobs(name) if j.get("job_name") == name]
        return max(jobs, key=lambda j: j.get("job_id") or 0, default=None)
