"""The fake SkyPilot's managed jobs (``sky.jobs``), as SkyPilot 0.14.1's jobs controller behaves; split from
``fake_sky`` so each fake stays readable. The behaviours and the SDK code each copies are described in
``tests/contract/fake_sky.py``'s docstring."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.contract.fake_sky_server import TERMINAL, Machine, kill, labels_of, tail_logs_of


@dataclass
class ManagedJob:
    job_id: int
    name: str
    task: object
    bucket: Path
    labels: dict
    submitted_at: float
    user_yaml: str = ""
    status: str = "PENDING"
    machine: Machine | None = None
    recovery_count: int = 0
    log: Path | None = None
    start_at: float | None = None
    end_at: float | None = None


class FakeJobs:
    """``sky.jobs``: a controller that runs each job on a machine and replaces a preempted one."""

    def __init__(self, sky) -> None:  # the FakeSky it belongs to
        self.sky = sky
        self.controller_stopped = False  # the jobs controller autostops when no job runs (sky/jobs/constants)

    def launch(self, task, name=None, **_):
        self.sky.calls.append("jobs.launch")
        source = next(iter(task.storage_mounts.values())).source
        bucket = self.sky.root / "buckets" / source.removeprefix("s3://")
        job = ManagedJob(next(self.sky._ids), name, task, bucket, labels_of(task), time.time(), _user_yaml(task, name))
        self.sky.managed[name] = job
        self.sky.managed_jobs.append(job)
        threading.Thread(target=self._control, args=(job,), daemon=True).start()
        return self.sky._submit("sky.jobs.launch", lambda: ([job.job_id], None))

    def _control(self, job: ManagedJob) -> None:
        """The jobs controller: start a machine, run the job, recover it when preempted."""
        while job.status not in ("CANCELLED", "SUCCEEDED", "FAILED", "FAILED_SETUP"):
            job.status = "STARTING" if job.recovery_count == 0 else "RECOVERING"
            time.sleep(self.sky.provisioning_s)
            if job.status == "CANCELLED":  # cancelled while SkyPilot was still finding a machine
                break
            disk = self.sky.root / "managed" / f"{job.name}-{job.job_id}-{job.recovery_count}"
            job.machine = Machine(job.name, disk, job.labels, time.time(), status="UP", placed=self.sky._place(job.task))
            disk.mkdir(parents=True)
            job.log = disk / "run.log"
            job.status, job.start_at = "RUNNING", job.start_at or time.time()
            job.bucket.mkdir(parents=True, exist_ok=True)
            outcome = self.sky._run_job(job.machine, job.task, {"/tuneplan-outputs": job.bucket})
            if job.status == "CANCELLED":
                break
            if job.machine.status == "PREEMPTED":
                job.recovery_count += 1
                continue
            job.status, job.end_at = outcome, time.time()

    def preempt(self, name: str) -> None:
        """The cloud takes the spot machine away."""
        job = self.sky.managed[name]
        job.machine.status = "PREEMPTED"
        job.status = "RECOVERING"
        kill(job.machine)

    def queue_v2(self, refresh, skip_finished=False, all_users=False, job_ids=None, limit=None, fields=None,
                 name_match=None, **_):
        from sky.exceptions import ClusterNotUpError
        from sky.jobs.state import ManagedJobStatus
        from sky.schemas.api.responses import ManagedJobRecord

        def work():
            if not self.sky.managed_jobs:  # no jobs controller yet (refresh=False does not start one)
                raise ClusterNotUpError("No in-progress managed jobs.")
            if self.controller_stopped and not refresh:  # autostopped after ~10 idle minutes: only refresh=True
                raise ClusterNotUpError("No in-progress managed jobs.")  # brings it up again (and bills it)
            jobs = [j for j in list(self.sky.managed_jobs) if (not name_match or name_match in j.name)
                    and (job_ids is None or j.job_id in job_ids)]
            records = [ManagedJobRecord(job_id=j.job_id, job_name=j.name, status=ManagedJobStatus(j.status),
                                        recovery_count=j.recovery_count, submitted_at=j.submitted_at,
                                        start_at=j.start_at, end_at=j.end_at,
                                        labels=j.labels if j.status == "RUNNING" and j.machine else None,
                                        **_placed(j),
                                        user_yaml=j.user_yaml if fields and "user_yaml" in fields else None)
                       for j in jobs]
            if skip_finished:
                records = [r for r in records if not r.status.is_terminal()]
            return records, len(records), {}, len(records)
        return self.sky._submit("sky.jobs.queue_v2", work)

    def tail_logs(self, name=None, job_id=None, follow=True, controller=False, refresh=False, tail=None,
                  tail_offset=None, output_stream=None, task=None, *, preload_content=True):
        job = self.sky.managed[name]
        return tail_logs_of(lambda: job.machine or Machine(name, job.bucket, {}, 0), lambda m: job.status, follow, tail,
                     output_stream, preload_content, {"SUCCEEDED": 0}, log=lambda: job.log)

    def cancel(self, name=None, job_ids=None, all=False, all_users=False, **_):
        self.sky.calls.append("jobs.cancel")

        def work():
            unfinished = [j for j in self.sky.managed_jobs if j.status not in TERMINAL]
            if name is not None:
                named = [j for j in unfinished if j.name == name]
                if len(named) > 1:  # logged on the server; the request still succeeds with None
                    self.sky.server_log.append(f"Multiple running jobs found with name {name!r}.")
                    return None
                targets = named
            else:
                targets = [j for j in unfinished if j.job_id in (job_ids or [])]
            for job in targets:
                if self.sky.ignore_cancel:  # the controller lost the signal: the job keeps running
                    continue
                if job.status == "PENDING":  # cancel_jobs_by_id: set_pending_cancelled, at once
                    job.status = "CANCELLED"
                    continue
                # A running job is only signalled (a file the controller polls, sky/jobs/utils.py
                # cancel_jobs_by_id); the controller moves it to CANCELLING and CANCELLED some seconds later.
                threading.Timer(self.sky.cancel_delay_s, self._controller_cancels, args=(job,)).start()
            return None
        return self.sky._submit("sky.jobs.cancel", work)

    def _controller_cancels(self, job: ManagedJob) -> None:
        job.status = "CANCELLING"
        if job.machine is not None:
            kill(job.machine)
        time.sleep(self.sky.cancel_delay_s / 2)
        job.status = "CANCELLED"


def _placed(job: ManagedJob) -> dict:
    """The launched machine's facts, set from the handle once the job has one (sky/jobs/utils.py
    ``_populate_job_record_from_handle``: ``accelerators`` stays a dict here)."""
    if job.machine is None or job.status != "RUNNING" and job.end_at is None:
        return {}
    cloud, region, accelerators, _ = job.machine.placed
    return {"cloud": cloud, "region": region, "accelerators": accelerators or None,
            "cluster_resources_full": job.machine.resources_full}


def _user_yaml(task, name: str) -> str:
    """What the controller keeps as the job's ``user_yaml``: SkyPilot's own dump of the submitted task."""
    from sky.utils import dag_utils

    dag = dag_utils.convert_entrypoint_to_dag(task)
    dag.name = name
    return dag_utils.dump_dag_to_yaml_str(dag, use_user_specified_yaml=True)
