"""RunPod pods as this provider sees them: the GraphQL documents it sends (values always as variables), the
create input it builds, and what it reads back (state, the SSH address, our tags).

RunPod pods have no tags, so ours travel as env vars (``TUNEPLAN_OWNER``, ``TUNEPLAN_HOST``,
``TUNEPLAN_RUN``). The pods listing returns every env var of every pod, secrets included: ``tags_from_env``
keeps those three and drops the rest at once, and nothing here logs or returns a pod's env.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from providers.types import TAG_HOST, TAG_OWNER, TAG_RUN

_RUNTIME = "runtime { uptimeInSeconds ports { ip isIpPublic privatePort publicPort type } }"
_POD = f"id name desiredStatus costPerHr gpuCount lastStatusChange {_RUNTIME}"

POD_QUERY = f"query Pod($input: PodFilter!) {{ pod(input: $input) {{ {_POD} }} }}"
PODS_QUERY = f"query Pods {{ myself {{ pods {{ {_POD} env }} }} }}"
CREATE_ON_DEMAND = ("mutation CreatePod($input: PodFindAndDeployOnDemandInput!) { "
                    "podFindAndDeployOnDemand(input: $input) { id name desiredStatus costPerHr } }")
CREATE_SPOT = ("mutation CreateSpotPod($input: PodRentInterruptableInput!) { "
               "podRentInterruptable(input: $input) { id name desiredStatus costPerHr } }")
TERMINATE = "mutation TerminatePod($input: PodTerminateInput!) { podTerminate(input: $input) }"
WHOAMI = "query Me { myself { id } }"

SSH_PORT = 22
# desiredStatus values that mean the job is not running any more (RunPod's PodStatus enum), with what they mean.
ENDED_STATUSES = {"EXITED": "its container exited, or an interruptible pod was reclaimed",
                  "TERMINATED": "it was terminated", "DEAD": "RunPod lost it (host failure)",
                  "PAUSED": "it was paused; its GPU is released", "STOPPED": "it was stopped"}
TAG_ENV = {TAG_OWNER: "TUNEPLAN_OWNER", TAG_HOST: "TUNEPLAN_HOST", TAG_RUN: "TUNEPLAN_RUN"}
# The price rows' offerings (planner/data and the live gpuTypes rows) and RunPod's cloudType for each.
OFFERING_CLOUD_TYPES = {"secure-cloud": "SECURE", "community-cloud": "COMMUNITY"}
# The settings' runpod.cloud_type, used only when the plan names no offering we know.
SETTING_CLOUD_TYPES = {"secure": "SECURE", "community": "COMMUNITY", **OFFERING_CLOUD_TYPES}


def cloud_type(offering: str, default: str) -> str:
    """RunPod's ``cloudType`` for a plan: the priced offering wins (the ledger bills that price); a plan
    without a known offering gets the settings' default (``secure`` when that is not known either)."""
    known = OFFERING_CLOUD_TYPES.get((offering or "").strip().lower())
    return known or SETTING_CLOUD_TYPES.get((default or "").strip().lower(), "SECURE")


@dataclass(frozen=True)
class PodView:
    """One pod, reduced to what the provider needs (never its env)."""

    pod_id: str
    name: str
    desired_status: str
    usd_per_hour: Decimal | None
    ssh: tuple[str, int] | None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.desired_status in ("RUNNING", "CREATED", "RESTARTING", "")


@dataclass(frozen=True)
class PodRequest:
    """What to ask RunPod for: everything but the GPU type, which the launch may change on no capacity."""

    name: str
    image: str
    gpus: int
    cloud_type: str
    container_disk_gb: int
    volume_gb: int
    env: dict[str, str]
    docker_args: str
    spot: bool
    bid_per_gpu: Decimal | None = None


def create_input(request: PodRequest, gpu_type_id: str) -> dict[str, Any]:
    """The ``input`` variable of the create mutation."""
    data: dict[str, Any] = {
        "name": request.name, "imageName": request.image, "gpuTypeId": gpu_type_id, "gpuCount": request.gpus,
        "cloudType": request.cloud_type, "containerDiskInGb": request.container_disk_gb,
        "volumeInGb": request.volume_gb, "ports": f"{SSH_PORT}/tcp", "supportPublicIp": True,
        "dockerArgs": request.docker_args, "env": [{"key": k, "value": v} for k, v in request.env.items()],
    }
    if request.volume_gb:
        data["volumeMountPath"] = "/workspace"
    if request.spot:
        data["bidPerGpu"] = float(request.bid_per_gpu or 0)
    return data


def pod_view(raw: dict[str, Any]) -> PodView:
    return PodView(str(raw.get("id") or ""), str(raw.get("name") or ""), str(raw.get("desiredStatus") or ""),
                   _decimal(raw.get("costPerHr")), ssh_address(raw), tags_from_env(raw.get("env")))


def ssh_address(raw: dict[str, Any]) -> tuple[str, int] | None:
    """The public address RunPod maps the pod's port 22 to, once the container runs."""
    runtime = raw.get("runtime") if isinstance(raw.get("runtime"), dict) else {}
    for port in runtime.get("ports") or []:
        if not isinstance(port, dict) or port.get("privatePort") != SSH_PORT or not port.get("isIpPublic"):
            continue
        if str(port.get("type") or "tcp").lower() == "tcp" and port.get("ip") and port.get("publicPort"):
            return str(port["ip"]), int(port["publicPort"])
    return None


def tags_from_env(env: Any) -> dict[str, str]:
    """Our three tags out of a pod's env (["K=V", ...] or {"K": "V"}); every other variable is dropped."""
    pairs: dict[str, str] = {}
    if isinstance(env, dict):
        pairs = {str(k): str(v) for k, v in env.items() if str(k) in TAG_ENV.values()}
    elif isinstance(env, list):
        for item in env:
            key, _, value = str(item).partition("=")
            if key in TAG_ENV.values():
                pairs[key] = value
    return {tag: pairs[name] for tag, name in TAG_ENV.items() if name in pairs}


def tag_env(tags: dict[str, str]) -> dict[str, str]:
    return {TAG_ENV[tag]: value for tag, value in tags.items() if tag in TAG_ENV}


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
