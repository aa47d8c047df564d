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
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.contract.fake_sky_jobs import FakeJobs, ManagedJob
from tests.contract.fake_sky_server import MACHINE_MARK, Machine, encoded_error, held, kill, labels_of, tail_logs_of


@dataclass
class Request:
    name: str
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None
    created_at: float = field(default_factory=time.time)


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
        machine = self.clusters[name] = Machine(name, self.root / "clusters" / name, labels_of(task),
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
            return held(self.hold)
        return tail_logs_of(lambda: self._cluster(cluster_name), lambda m: m.job_status, follow, tail, output_stream,
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
