"""``tuneplan launch --provider runpod --dry-run``: the pod create request tuneplan would send, as JSON, without
sending it, making the run's SSH keys or needing an API key.

Built by the same code as the launch (``pod_env``, ``pods.create_input``), so what is shown is what would be
asked. What is made only at launch (the SSH keys) or is secret (the named secrets' values, RunPod's API URL with
its key) is shown as a placeholder; the boot script and the agent, sent base64, are shown by size.
"""

from __future__ import annotations

import json
from decimal import Decimal

from providers.runpod import pods
from providers.runpod.boot import docker_args, pod_env
from providers.runpod.config import PodDefaults
from providers.runpod.creating import gpu_type_ids
from providers.types import Bundle, LaunchPlan, ProviderError

MADE_AT_LAUNCH = "<made at launch>"
SHOWN_BY_SIZE = ("TUNEPLAN_POD_BOOT", "TUNEPLAN_POD_AGENT")


def pod_request(bundle: Bundle, plan: LaunchPlan, defaults: PodDefaults, public_key: str, host_private: bytes,
                api_url: str, secrets: dict[str, str], cloud: str) -> pods.PodRequest:
    """The pod to ask for (all but the GPU type): shared by the launch and its dry run."""
    env = pod_env(bundle, plan, public_key, host_private, api_url, defaults.pull_window_s, defaults.boot_timeout_s,
                  secrets, pods.tag_env(plan.tags))
    bid = (plan.usd_per_hour / max(plan.gpus, 1)).quantize(Decimal("0.001")) if plan.spot else None
    if plan.spot and not bid:
        raise ProviderError("a spot (interruptible) pod needs a bid: the plan has no spot price for it")
    return pods.PodRequest(plan.resource_name, plan.image.removeprefix("docker:") or defaults.image,
                           max(plan.gpus, 1), cloud, defaults.container_disk_gb, defaults.volume_gb, env,
                           docker_args(), plan.spot, bid)


def render(bundle: Bundle, plan: LaunchPlan, defaults: PodDefaults) -> str:
    """The create mutation's name and ``input`` for the first GPU type, and the types tried after it."""
    choices = gpu_type_ids(plan)
    cloud = pods.cloud_type(plan.offering, defaults.cloud_type)
    secrets = {name: "<its value from this shell's environment, at launch>" for name in plan.secrets}
    request = pod_request(bundle, plan, defaults, MADE_AT_LAUNCH, b"", "<RunPod's API>", secrets, cloud)
    data = pods.create_input(request, choices[0][1])
    for item in data["env"]:
        if item["key"] in SHOWN_BY_SIZE:
            item["value"] = f"<base64, {len(item['value'])} characters>"
        elif item["key"] == "TUNEPLAN_POD_HOST_KEY":
            item["value"] = MADE_AT_LAUNCH
    mutation = "podRentInterruptable" if plan.spot else "podFindAndDeployOnDemand"
    return json.dumps({"runpod": {"mutation": mutation, "input": data,
                                  "then_tried_on_no_capacity": [type_id for _, type_id in choices[1:]],
                                  "bundle": {"uploaded_over_ssh": str(bundle.tarball), "sha256": bundle.sha256}}},
                      indent=2) + "\n"
