"""The RunPod provider: one pod per run, named ``tp-<run id>``, with our tags in its env.

How a run goes (every step safe to repeat, and every step after ``launch`` doable by another process):
- ``launch`` first looks for a pod already named ``tp-<run id>`` (a launch asked twice adopts the pod, never
  makes a second), then makes (or reuses) the run's SSH keys and asks RunPod for a pod on the cloud the price
  came from (``plan.offering``; GraphQL, values as variables; on "no capacity" it tries the plan's next
  acceptable GPU) and returns at once. The pod boots our start command,
  which starts sshd and the agent (``pod_agent.py``), the pod's dead-man timer.
- ``status`` asks the API for the pod, then the agent over SSH. While the agent waits for its bundle,
  ``status`` uploads it (sha256 checked on both ends), so whoever watches the run moves it forward.
- ``fetch_artifacts`` streams the output dir down file by file (``pulling.py``: checked names, byte cap and
  deadline) and compares every file's sha256 with the pod's own ``sha256sum`` before anything is torn down.
- ``teardown`` terminates the pod through the API and, once RunPod said so (or the pod is gone), deletes the
  run's private keys and notes when the pod ended (the bill is read only once it covers that moment).
If the CLI dies, the agent ends the pod by itself: no bundle within the boot timeout, the job past its
hard runtime limit, or the pull window over after the job ended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from providers.base import Provider
from providers.log_lines import split_lines
from providers.pull_limits import PullLimits
from providers.protocol import last_messages
from providers.runpod import config, pods
from providers.runpod.api import POD_LOOKUP, NoCapacity, PodNotFound, RunpodApi
from providers.runpod.boot import REMOTE_DIR
from providers.runpod.billing import SETTLE
from providers.runpod.creating import create_pod, gpu_type_ids, no_capacity_message, run_keys
from providers.runpod.localstate import LocalRunState
from providers.runpod.pulling import pull_outputs
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
    TransientProviderError,
)

LOG_TAIL_BYTES = 256 * 1024
LOG_READ_BYTES = 1 << 20
STATUS_MAX_BYTES = 64 * 1024
SEPARATOR = "\n--tuneplan-log--\n"


class RunpodProvider(Provider):
    name = "runpod"

    def __init__(self, api: RunpodApi | None = None, state_root: Path | None = None,
                 defaults: config.PodDefaults | None = None, ssh_timeout_s: float = 20.0,
                 log_poll_s: float = 1.0, today=None, now: Callable[[], datetime] | None = None,
                 billing_settle: timedelta = SETTLE) -> None:
        self._api, self._defaults = api, defaults
        self._state_root, self.ssh_timeout_s, self.log_poll_s = state_root, ssh_timeout_s, log_poll_s
        self._today = today or date.today
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.billing_settle = billing_settle
        self._shells: dict[str, object] = {}

    # --- configuration (read lazily: building the provider costs nothing) -----------------------------
    def api(self) -> RunpodApi:
        if self._api is None:
            section = config.load_settings_section()
            key = config.api_key(section)
            if not key:
                raise ProviderError(f"no RunPod API key: {config.KEY_FIX}")
            self._api = RunpodApi(key, config.base_url(section))
        return self._api

    @property
    def defaults(self) -> config.PodDefaults:
        if self._defaults is None:
            self._defaults = config.pod_defaults()
        return self._defaults

    @property
    def state(self) -> LocalRunState:
        if self._state_root is None:
            from providers.paths import data_dir

            self._state_root = data_dir() / "runpod"
        return LocalRunState(self._state_root)

    def _has_key(self) -> bool:
        return self._api is not None or bool(config.api_key())

    # --- what it is -------------------------------------------------------------------------------------
    def capabilities(self) -> list[Capability]:
        return [
            Capability("spot", True, "interruptible pods at RunPod's spot (bid) price; they can be stopped any time"),
            Capability("multi_node", False, "one pod per run (up to 8 GPUs on one machine)"),
            Capability("billing", True, "RunPod's pod billing endpoint (it can lag; rate × time until it has the pod)"),
            Capability("runtime_limit", True, "an agent on the pod ends the job at the limit and terminates the pod"),
            Capability("secrets", True, "named secrets go into the pod's env at creation (visible to the account)"),
        ]

    def ready_here(self) -> CheckResult:
        return CheckResult(True, "RunPod API key present") if self._has_key() else \
            CheckResult(False, "no RunPod API key", config.KEY_FIX)

    def check(self) -> CheckResult:
        if not self._has_key():
            return CheckResult(False, "no RunPod API key", config.KEY_FIX)
        try:
            data = self.api().graphql(pods.WHOAMI, what="the account check")
        except ProviderError as exc:
            return CheckResult(False, str(exc), config.KEY_FIX)
        if not (isinstance(data.get("myself"), dict) and data["myself"].get("id")):
            return CheckResult(False, f"{self.api().base_url} answered with no account behind the key (myself: "
                               "null)", config.KEY_FIX)
        return CheckResult(True, f"RunPod API key accepted by {self.api().base_url}")

    def offers(self) -> list[Offer]:
        from providers.runpod.offers import live_offers, snapshot_offers

        return live_offers(self.api(), self._today()) if self._has_key() else snapshot_offers()

    def destination(self, plan: LaunchPlan) -> str:
        cloud = pods.cloud_type(plan.offering, self.defaults.cloud_type).lower()
        return (f"a RunPod {cloud}-cloud pod {plan.resource_name} ({plan.gpus}× {plan.gpu}); the bundle goes over "
                f"SSH (a key made for this run) to the pod's container disk, deleted with the pod")

    # --- launching ----------------------------------------------------------------------------------------
    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        """Idempotent by name: a pod already called ``tp-<run id>`` is adopted, not made again."""
        if bundle.nodes > 1:
            raise ProviderError("RunPod runs one pod per run (up to 8 GPUs): several machines are Instant Clusters, "
                                "which tuneplan does not drive yet; use resources.nodes: 1 or the skypilot launcher")
        api, choices = self.api(), gpu_type_ids(plan)
        secrets = {name: os.environ[name] for name in plan.secrets if name in os.environ}
        api.scrub(secrets.values())
        cloud = pods.cloud_type(plan.offering, self.defaults.cloud_type)
        existing = self._find_by_name(plan.resource_name)
        if existing is not None:
            return self._adopt(existing, bundle, plan, cloud)
        client_public, host_private = run_keys(self.state, plan.run_id)
        self.state.write(plan.run_id, tarball=str(bundle.tarball), sha256=bundle.sha256,
                         output_dir=bundle.output_dir, name=plan.resource_name)
        request = self._pod_request(bundle, plan, client_public, host_private, secrets, cloud)
        pod, gpu, tried = None, "", []
        for gpu, type_id in choices:
            try:
                pod = create_pod(api, request, type_id, self._find_by_name)
                break
            except NoCapacity:
                tried.append(gpu)
        if pod is None:
            raise ProviderError(no_capacity_message(tried, request.cloud_type, plan.spot))
        self.state.write(plan.run_id, pod_id=pod.pod_id, gpu=gpu, cloud_type=cloud)
        return self._launched(plan, pod, gpu, cloud, bundle.output_dir)

    def _launched(self, plan: LaunchPlan, pod: pods.PodView, gpu: str, cloud: str, output_dir: str) -> RunHandle:
        return RunHandle(self.name, plan.run_id, pod.pod_id,
                         {"pod_id": pod.pod_id, "name": plan.resource_name, "gpu": gpu, "gpus": plan.gpus,
                          "cloud_type": cloud, "output_dir": output_dir, "usd_per_hour": str(pod.usd_per_hour or "")})

    def _adopt(self, pod: pods.PodView, bundle: Bundle, plan: LaunchPlan, cloud: str) -> RunHandle:
        """The run's pod exists already (an earlier launch of this run got that far): carry on with it."""
        local = self.state.read(plan.run_id)
        mine = all(pod.tags.get(tag) in (None, value) for tag, value in plan.tags.items())
        if not mine or not self.state.key_file(plan.run_id).is_file() or not local.get("host_key"):
            raise ProviderError(f"a RunPod pod named {plan.resource_name} already exists and this machine holds no key "
                                "for it; end it with `tuneplan reap` (or in the RunPod console) and launch again")
        self.state.write(plan.run_id, pod_id=pod.pod_id)
        return self._launched(plan, pod, local.get("gpu") or plan.gpu, local.get("cloud_type") or cloud,
                              local.get("output_dir") or bundle.output_dir)

    def _pod_request(self, bundle: Bundle, plan: LaunchPlan, public_key: str, host_private: bytes,
                     secrets: dict[str, str], cloud: str) -> pods.PodRequest:
        from providers.runpod.dry_run import pod_request

        return pod_request(bundle, plan, self.defaults, public_key, host_private, self.api().base_url, secrets, cloud)

    def render_task(self, bundle: Bundle, plan: LaunchPlan) -> str:
        """``--dry-run``: the create request as JSON; nothing is sent, no key is made, no API key is needed."""
        from providers.runpod.dry_run import render

        return render(bundle, plan, self.defaults)

    def _find_by_name(self, name: str) -> pods.PodView | None:
        return next((pod for pod in self._pods() if pod.name == name), None)

    # --- watching -----------------------------------------------------------------------------------------
    def status(self, handle: RunHandle) -> RunStatus:
        return self._observe(handle, deliver=True)

    def _observe(self, handle: RunHandle, deliver: bool) -> RunStatus:
        """The run's state; with ``deliver``, also upload the bundle to a pod that waits for it."""
        pod = self._pod(handle.resource_id)
        if pod is None:
            self._note_end(handle.run_id)
            return RunStatus(RunState.UNKNOWN, "the pod is gone (terminated)", exists=False)
        if pod.desired_status in pods.ENDED_STATUSES:
            why = f"the pod is {pod.desired_status} ({pods.ENDED_STATUSES[pod.desired_status]})"
            return RunStatus(RunState.FAILED, why, error=why)
        if not pod.alive:
            return RunStatus(RunState.UNKNOWN, f"RunPod says the pod is {pod.desired_status!r}, a state tuneplan "
                             "does not know; watching on")
        if pod.ssh is None:
            return RunStatus(RunState.PROVISIONING, "RunPod is starting the pod")
        if not self.state.key_file(handle.run_id).is_file():
            return RunStatus(RunState.UNKNOWN, "launched from another machine: no SSH key for this run here")
        try:
            info, log_lines = self._remote_status(handle, pod)
        except TransientProviderError as exc:
            return RunStatus(RunState.UNKNOWN, str(exc))
        if info is None:
            return RunStatus(RunState.PROVISIONING, "the pod is booting (its agent has not started yet)")
        if info.get("phase") == "waiting_for_bundle":
            return self._deliver(handle, pod) if deliver else RunStatus(RunState.PROVISIONING, "waiting for its bundle")
        progress, _done = last_messages(log_lines)
        state = RunState.parse(info.get("state"))
        return RunStatus(state, info.get("error") or "", True, progress, info.get("exit_code"), info.get("error"),
                         info.get("started_at"), info.get("ended_at"))

    def _remote_status(self, handle: RunHandle, pod: pods.PodView) -> tuple[dict | None, list[str]]:
        command = (f"head -c {STATUS_MAX_BYTES} {REMOTE_DIR}/status.json 2>/dev/null; printf '\\n--tuneplan-log--\\n'; "
                   f"tail -c {LOG_TAIL_BYTES} {REMOTE_DIR}/run.log 2>/dev/null; true")
        _code, out, _err = self._shell(handle, pod).run(command, timeout_s=self.ssh_timeout_s)
        head, _, tail = out.decode("utf-8", "replace").partition(SEPARATOR)
        try:
            info = json.loads(head) if head.strip() else None
        except ValueError:
            info = None
        return (info if isinstance(info, dict) else None), tail.splitlines()

    def _deliver(self, handle: RunHandle, pod: pods.PodView) -> RunStatus:
        """Upload the bundle to a pod that waits for it; both ends check the sha256."""
        local = self.state.read(handle.run_id)
        tarball = Path(local.get("tarball") or "")
        if not tarball.is_file():
            return RunStatus(RunState.PROVISIONING, "the pod waits for its bundle, which is not on this machine")
        shell, part = self._shell(handle, pod), f"{REMOTE_DIR}/bundle.tgz.part"
        with tarball.open("rb") as f:
            code, out, err = shell.run(f"cat > {part} && sha256sum {part}", stdin=f, timeout_s=3600)
        digest = out.decode().split()[0] if out.split() else ""
        if code != 0 or digest != local.get("sha256"):
            shell.run(f"rm -f {part}")
            raise TransientProviderError(f"the bundle upload to pod {pod.pod_id} did not arrive intact; trying again")
        shell.run(f"mv {part} {REMOTE_DIR}/bundle.tgz")
        return RunStatus(RunState.PROVISIONING, "bundle uploaded (sha256 verified); the job is starting")

    def logs(self, handle: RunHandle, follow: bool = False, tail_bytes: int | None = None) -> Iterator[str]:
        """The job's output; with ``follow``, waits for the pod and keeps reading until the job has ended."""
        if not follow:
            self._live_pod(handle)
        yield from split_lines(self._log_chunks(handle, follow, tail_bytes))

    def _log_chunks(self, handle: RunHandle, follow: bool, tail_bytes: int | None) -> Iterator[bytes]:
        """The log in pieces of at most ``LOG_READ_BYTES``; with ``tail_bytes``, only its end."""
        import time

        if tail_bytes is not None and not follow:
            yield self._log_read(handle, f"tail -c {int(tail_bytes)} {REMOTE_DIR}/run.log")
            return
        position, ended = 0, False
        while True:
            chunk = self._log_read(handle, f"tail -c +{position + 1} {REMOTE_DIR}/run.log | head -c {LOG_READ_BYTES}")
            position += len(chunk)
            yield chunk
            if chunk:
                continue
            if not follow or ended:
                return
            ended = self._finished(handle)  # one more read after the end picks up the last lines
            if not ended:
                time.sleep(self.log_poll_s)

    def _log_read(self, handle: RunHandle, command: str) -> bytes:
        pod = self._pod(handle.resource_id)
        if pod is None or pod.ssh is None or not self.state.key_file(handle.run_id).is_file():
            return b""
        try:
            return self._shell(handle, pod).run(f"{command} 2>/dev/null; true", max_bytes=LOG_READ_BYTES + 1)[1]
        except TransientProviderError:
            return b""

    def _finished(self, handle: RunHandle) -> bool:
        status = self.status(handle)
        return status.state.terminal or not status.exists

    # --- results and the end --------------------------------------------------------------------------
    def fetch_artifacts(self, handle: RunHandle, dest: Path, include_checkpoints: bool = False,
                        limits: PullLimits | None = None) -> list[str]:
        pod = self._live_pod(handle)
        out = f"{REMOTE_DIR}/bundle/{handle.data.get('output_dir') or 'out'}"
        return pull_outputs(self._shell(handle, pod), out, dest, include_checkpoints, limits, pod.pod_id)

    def teardown(self, handle: RunHandle) -> None:
        """Terminate the pod; the run's keys are deleted only once RunPod accepted that (or the pod is gone).
        Without an API key nothing can be ended: that is an error, never a quiet success."""
        shell = self._shells.pop(handle.run_id, None)
        if shell is not None:
            shell.close()
        api = self.api()  # no key: ProviderError saying how to set one
        pod = self._pod(handle.resource_id)
        if pod is not None:
            try:
                api.graphql(pods.TERMINATE, {"input": {"podId": pod.pod_id}}, "terminating the pod",
                            operation=POD_LOOKUP)
            except PodNotFound:
                pass
        self._note_end(handle.run_id)
        self.state.forget_key(handle.run_id)

    def _note_end(self, run_id: str) -> None:
        """Remember when the pod was first known to be ended (an upper bound of its end, for the bill)."""
        if self.state.folder(run_id).is_dir() and self.state.read(run_id).get("ended_at") is None:
            self.state.write(run_id, ended_at=self._now().timestamp())

    def list_resources(self) -> list[Resource]:
        """Our pods. Without an API key this cannot look, which is an error (reap shows it as unchecked)."""
        self.api()
        found = []
        for pod in self._pods():
            if not pod.name.startswith(RESOURCE_PREFIX):
                continue
            run_id = pod.tags.get("tuneplan-run") or pod.name.removeprefix(RESOURCE_PREFIX)
            handle = self._handle_for(pod, run_id)
            state = self._observe(handle, deliver=False).state  # listing never moves a run forward
            found.append(Resource(pod.pod_id, pod.name, run_id, pod.tags, state, handle))
        return found

    def billed_cost(self, handle: RunHandle, ended_at: datetime | None = None) -> Decimal | None:
        """RunPod's own figure, only once its records cover the pod's end; None until then (rate × time stays)."""
        from providers.runpod.billing import pod_bill

        ended = self.state.read(handle.run_id).get("ended_at")
        if ended is None or not self._has_key():
            return None  # still running, or ended where this machine did not see it: no complete bill to read
        from providers.runpod.billing import BillUnreadable

        try:
            return pod_bill(self.api(), handle.resource_id, datetime.fromtimestamp(float(ended), timezone.utc),
                            self._now(), self.billing_settle)
        except BillUnreadable:
            raise  # said, not hidden: `tuneplan bills` shows it
        except ProviderError:
            return None

    # --- helpers --------------------------------------------------------------------------------------
    def _pod(self, pod_id: str) -> pods.PodView | None:
        try:
            data = self.api().graphql(pods.POD_QUERY, {"input": {"podId": pod_id}}, "the pod query",
                                      operation=POD_LOOKUP)
        except PodNotFound:
            return None
        raw = data.get("pod")
        return pods.pod_view(raw) if isinstance(raw, dict) and raw.get("id") else None

    def _pods(self) -> list[pods.PodView]:
        data = self.api().graphql(pods.PODS_QUERY, what="the pods listing")
        if not isinstance(data.get("myself"), dict):  # not "no pods": nobody the key belongs to
            raise ProviderError("RunPod answered the pods listing with no account behind the key (myself: null); "
                                f"nothing can be listed or ended with it: {config.KEY_FIX}")
        raw = data["myself"].get("pods") or []
        return [pods.pod_view(p) for p in raw if isinstance(p, dict)]

    def _live_pod(self, handle: RunHandle) -> pods.PodView:
        pod = self._pod(handle.resource_id)
        if pod is None or pod.ssh is None:
            raise ProviderError(f"run {handle.run_id}: pod {handle.resource_id} is gone or not reachable "
                                "(torn down, or ended by its own timer); its files went with it")
        if not self.state.key_file(handle.run_id).is_file():
            raise ProviderError(f"run {handle.run_id}: no SSH key for it on this machine (launched elsewhere, "
                                "or already torn down)")
        return pod

    def _shell(self, handle: RunHandle, pod: pods.PodView):
        from providers.runpod.ssh import PodShell

        shell = self._shells.get(handle.run_id)
        if shell is None or (shell.host, shell.port) != pod.ssh:
            host_key = self.state.read(handle.run_id).get("host_key", "")
            shell = PodShell(pod.ssh[0], pod.ssh[1], self.state.key_file(handle.run_id), host_key, self.ssh_timeout_s)
            self._shells[handle.run_id] = shell
        return shell

    def _handle_for(self, pod: pods.PodView, run_id: str) -> RunHandle:
        local = self.state.read(run_id)
        return RunHandle(self.name, run_id, pod.pod_id,
                         {"pod_id": pod.pod_id, "name": pod.name, "gpu": local.get("gpu", ""),
                          "output_dir": local.get("output_dir") or "out",
                          "usd_per_hour": str(pod.usd_per_hour or "")})

