"""The SkyPilot provider in the contract suite, with SkyPilot's SDK boundary faked (CONTRACTS §8).

``FakeSky`` stands where the ``sky`` package stands: ``launch``/``status``/``queue``/``tail_logs``/
``down``/``api_status``/``api_cancel``/``get`` and ``jobs.launch``/``queue_v2``/``tail_logs``/``cancel``,
with SkyPilot 0.14.1's signatures, returning request ids that ``get`` resolves to the SDK's own types
(``StatusResponse``, ``ClusterJobRecord``, ``ManagedJobRecord``, ``RequestPayload``, the real status
enums, ``ClusterDoesNotExist``). It receives the real ``sky.Task`` the provider built from its YAML, and
runs that task's ``setup`` and ``run`` with bash in a copy of its ``workdir``, with the task's envs and
secrets only, as a cluster would. ``preempt(name)`` kills a managed job's machine and SkyPilot's
recovery starts a new one on the same bucket. ``rsync`` and ``aws`` are small scripts that copy from the
fake cluster disks and buckets, standing in for the real tools over SSH / S3.

Where the real SDK is awkward, the fake is too (each checked against the installed 0.14.1 source):
``get`` waits with no time limit (``hold`` paused = a stuck API server); ``jobs.queue_v2`` raises
ClusterNotUpError("No in-progress managed jobs.") while no jobs controller exists, and gives ``labels``
None while a job has no machine; ``jobs.cancel(name=...)`` with several unfinished jobs of that name
cancels nothing and succeeds; ``fail_after_init`` leaves a cluster in INIT behind a failed launch request.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.contract.fake_sky_server import MACHINE_MARK, TERMINAL, encoded_error, kill


@dataclass
class Request:
    name: str
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None
    created_at: float = field(default_factory=time.time)


@dataclass
class Machine:
    """One cluster (or the current machine of a managed job) and its one job."""

    name: str
    disk: Path
    labels: dict
    launched_at: float
    status: str = "INIT"
    job_status: str | None = None
    process: subprocess.Popen | None = None
    start_at: float | None = None
    end_at: float | None = None
    placed: tuple[str, str, dict, str] = ("AWS", "us-east-1", {}, "m6i.large")
    """(cloud, region, accelerators, instance type) the optimizer chose: what ``status`` reports from the
    handle's ``launched_resources``."""

    @property
    def resources_full(self) -> str:
        """As sky/utils/resources_utils.py ``format_resource`` writes it, for one node."""
        cloud, _, accelerators, instance = self.placed
        gpus = "".join(f"gpus={name}:{count}, " for name, count in accelerators.items())
        return f"1x({gpus}cpus=4, mem=16, {instance}, disk=100)"


class FakeSky:
    def __init__(self, root: Path, provisioning_s: float = 0.1) -> None:
        import sky

        self.Task, self.__version__ = sky.Task, sky.__version__
        self.root, self.provisioning_s = root, provisioning_s
        self.requests: dict[str, Request] = {}
        self.clusters: dict[str, Machine] = {}
        self._downing = threading.Lock()
        self.managed: dict[str, ManagedJob] = {}  # the newest job of each name
        self.managed_jobs: list[ManagedJob] = []  # every job, names may repeat
        self.fail_launch: BaseException | None = None
        self.fail_after_init: BaseException | None = None
        self.ignore_cancel = False
        self.optimizer_picks: tuple[str, str, dict, str] | None = None  # else the first acceptable resource
        self.cancel_delay_s = 0.5  # the real controller acts on a cancel signal within ~15 s
        self.hold = threading.Event()  # cleared: the API server takes requests but never finishes them
        self.hold.set()
        self.calls: list[str] = []
        self.server_log: list[str] = []
        self.jobs = FakeJobs(self)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- requests ---------------------------------------------------------------------------------------
    def _submit(self, name: str, work) -> str:
        from sky.server.common import RequestId

        request_id = RequestId(uuid.uuid4().hex)
        request = self.requests[request_id] = Request(name)

        def run() -> None:
            self.hold.wait()
            try:
                request.result = work()
            except BaseException as exc:  # what the server records as the request's error
                request.error = exc
            request.done.set()

        threading.Thread(target=run, daemon=True).start()
        return request_id

    def get(self, request_id):
        request = self.requests[str(request_id)]
        request.done.wait()  # like sky.get: no time limit
        if request.error is not None:
            raise request.error
        return request.result

    def api_status(self, request_ids=None, all_status=False, limit=None, fields=None, cluster_name=None):
        from sky.server.requests.payloads import RequestPayload

        out = []
        for rid in request_ids or list(self.requests):
            request = self.requests.get(str(rid))
            if request is None:
                continue
            status = "RUNNING" if not request.done.is_set() else ("FAILED" if request.error else "SUCCEEDED")
            out.append(RequestPayload(request_id=str(rid), name=request.name, entrypoint="", request_body="{}",
                                      status=status, created_at=request.created_at, user_id="u", return_value="",
                                      error=encoded_error(request.error), pid=None, schedule_type="long"))
        return out

    def api_cancel(self, request_ids=None, all_users=False, silent=False):
        return self._submit("sky.api_cancel", lambda: list(request_ids if isinstance(request_ids, list) else [request_ids]))

    # --- clusters -------------------------------------------------------------------------------------------
    def launch(self, task, cluster_name=None, retry_until_up=False, idle_minutes_to_autostop=None, wait_for=None,
               dryrun=False, down=False, **_):
        self.calls.append("launch")
        assert down and idle_minutes_to_autostop, "tuneplan launches clusters with autodown"
        return self._submit("sky.launch", lambda: self._provision(task, cluster_name))

    def _provision(self, task, name: str):
        if self.fail_launch is not None:
            raise self.fail_launch
        placed = self._place(task)
        machine = self.clusters[name] = Machine(name, self.root / "clusters" / name, _labels(task),
                                                time.time(), placed=placed)
        if self.fail_after_init is not None:  # provisioning failed half-way: the record stays INIT
            raise self.fail_after_init
        time.sleep(self.provisioning_s)
        machine.status = "UP"
        machine.job_status = "PENDING"
        threading.Thread(target=self._run_job, args=(machine, task, {}), daemon=True).start()
        return 1, None

    def _place(self, task) -> tuple[str, str, dict, str]:
        """The optimizer's choice among the task's acceptable resources (``task.resources``: one entry per
        ``any_of`` item, each with its ``cloud`` pinned by ``infra``; sky/optimizer.py picks the cheapest by
        its own catalog). A test sets ``optimizer_picks`` to a dearer or other offer; one the task does not
        accept cannot be chosen, and the launch fails as sky/exceptions.py ResourcesUnavailableError does."""
        from sky.exceptions import ResourcesUnavailableError

        acceptable = [(str(r.cloud) if r.cloud else None, dict(r.accelerators or {})) for r in task.resources]
        if self.optimizer_picks is None:
            cloud, accelerators = sorted(acceptable, key=str)[0]
            return cloud or "AWS", "us-east-1", accelerators, "an-instance"
        cloud, region, accelerators, _ = self.optimizer_picks
        if not any((c is None or c.lower() == cloud.lower()) and a == accelerators for c, a in acceptable):
            raise ResourcesUnavailableError(f"Failed to provision all possible launchable resources: {cloud} "
                                            f"{accelerators} is not among the task's resources")
        return self.optimizer_picks

    def _run_job(self, machine: Machine, task, mounts: dict[str, Path]) -> str:
        """setup, then run, in a copy of the workdir, with the task's envs and secrets and nothing else."""
        workdir = machine.disk / "sky_workdir"
        shutil.copytree(task.workdir, workdir, dirs_exist_ok=True)
        from sky.task import get_plaintext_secrets

        env = {"PATH": os.environ["PATH"], "HOME": str(machine.disk), "LANG": "C.UTF-8", **task.envs,
               **get_plaintext_secrets(task.secrets or {}), MACHINE_MARK: str(machine.disk)}
        machine.job_status = "SETTING_UP"
        if self._step(machine, task.setup, workdir, env, mounts) != 0:
            return self._end(machine, "FAILED_SETUP")
        machine.job_status, machine.start_at = "RUNNING", time.time()
        return self._end(machine, "SUCCEEDED" if self._step(machine, task.run, workdir, env, mounts) == 0 else "FAILED")

    @staticmethod
    def _step(machine: Machine, command: str, workdir: Path, env: dict, mounts: dict[str, Path]) -> int:
        for mount, local in mounts.items():
            command = command.replace(mount, str(local))
        if machine.status in ("GONE", "PREEMPTED"):  # taken away before this step started
            return 137
        with (machine.disk / "run.log").open("ab") as log:
            machine.process = subprocess.Popen(["bash", "-c", command], cwd=workdir, env=env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        return machine.process.wait()

    @staticmethod
    def _end(machine: Machine, outcome: str) -> str:
        if machine.job_status == "CANCELLED" or machine.status in ("GONE", "PREEMPTED"):
            return "CANCELLED"
        machine.job_status, machine.end_at = outcome, time.time()
        return outcome

    def status(self, cluster_names=None, refresh=None, all_users=False, *, _include_credentials=False,
               _summary_response=False):
        from sky.schemas.api.responses import StatusResponse
        from sky.utils.status_lib import ClusterStatus

        def work():
            wanted = [m for m in list(self.clusters.values()) if cluster_names is None or m.name in cluster_names]
            return [StatusResponse(name=m.name, launched_at=int(m.launched_at), status=ClusterStatus(m.status),
                                   autostop=15, to_down=True, cluster_hash="h", cluster_ever_up=m.status == "UP",
                                   user_hash="u", user_name="tester", workspace="default", is_managed=False,
                                   nodes=1, labels=m.labels, credentials=None, cloud=m.placed[0],
                                   region=m.placed[1], accelerators=f"{m.placed[2]}" if m.placed[2] else None,
                                   resources_str_full=m.resources_full)
                    for m in wanted]
        return self._submit("sky.status", work)

    def queue(self, cluster_name, skip_finished=False, all_users=False):
        from sky.schemas.api.responses import ClusterJobRecord
        from sky.skylet.job_lib import JobStatus

        def work():
            machine = self._cluster(cluster_name)
            if machine.job_status is None:
                return []
            return [ClusterJobRecord(job_id=1, job_name=cluster_name, username="tester", user_hash="u",
                                     submitted_at=machine.launched_at, start_at=machine.start_at,
                                     end_at=machine.end_at, resources="1x[A10G:1]",
                                     status=JobStatus(machine.job_status), log_path="~/sky_logs")]
        return self._submit("sky.queue", work)

    def tail_logs(self, cluster_name, job_id, follow, tail=0, output_stream=None, *, preload_content=True):
        self.calls.append("tail_logs")
        if not preload_content and not self.hold.is_set():  # a stuck server: the streamed response never comes
            return _held(self.hold)
        return _tail(lambda: self._cluster(cluster_name), lambda m: m.job_status, follow, tail, output_stream,
                     preload_content, {"SUCCEEDED": 0})

    def down(self, cluster_name, purge=False, graceful=False, graceful_timeout=None):
        self.calls.append("down")

        def work():
            with self._downing:  # the server takes the cluster's lock: a second down finds nothing to end
                machine = self._cluster(cluster_name)
                kill(machine)
                del self.clusters[cluster_name]
                shutil.rmtree(machine.disk, ignore_errors=True)
        return self._submit("sky.down", work)

    def _cluster(self, name: str) -> Machine:
        from sky.exceptions import ClusterDoesNotExist

        machine = self.clusters.get(name)
        if machine is None:
            raise ClusterDoesNotExist(f"Cluster {name!r} does not exist.")
        return machine


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

    def __init__(self, sky: FakeSky) -> None:
        self.sky = sky
        self.controller_stopped = False  # the jobs controller autostops when no job runs (sky/jobs/constants)

    def launch(self, task, name=None, **_):
        self.sky.calls.append("jobs.launch")
        source = next(iter(task.storage_mounts.values())).source
        bucket = self.sky.root / "buckets" / source.removeprefix("s3://")
        job = ManagedJob(next(self.sky._ids), name, task, bucket, _labels(task), time.time(), _user_yaml(task, name))
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
        return _tail(lambda: job.machine or Machine(name, job.bucket, {}, 0), lambda m: job.status, follow, tail,
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


def _labels(task) -> dict:
    return dict(next(iter(task.resources)).labels or {})


def _held(hold: threading.Event):
    """A ``preload_content=False`` stream (sky/client/sdk.py ``stream_response``) from a server that accepted
    the request and sends nothing: the first read blocks until the server is released."""
    hold.wait()
    yield None


def _tail(machine_of, status_of, follow, tail, output_stream, preload_content, codes, log=None):
    """``tail_logs`` in both of its modes: write to a stream and return the exit code, or an iterator."""
    machine = machine_of()
    path = (log() if log else None) or machine.disk / "run.log"
    while follow and status_of(machine) not in TERMINAL:
        time.sleep(0.05)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    except OSError:
        lines = []
    lines = lines[-tail:] if tail else lines
    if not preload_content:
        return iter([*lines, None])
    (output_stream or sys.stdout).write("".join(lines))
    return codes.get(status_of(machine), 100)
