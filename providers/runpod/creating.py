"""Making a pod: which RunPod GPU types to ask for and in what order, the run's SSH keys, and the create call
itself, which must never make two pods for one run (a create that failed in transit may still have
happened, so every retry looks for the pod by name first).
"""

from __future__ import annotations

from collections.abc import Callable

from providers.runpod import pods
from providers.runpod.api import CREATE, NoCapacity, RunpodApi
from providers.runpod.localstate import HOST_KEY_FILE, LocalRunState
from providers.types import LaunchPlan, ProviderError, TransientProviderError

CREATE_ATTEMPTS = 3


def gpu_type_ids(plan: LaunchPlan) -> list[tuple[str, str]]:
    """(canonical GPU, RunPod GPU type id) for the plan's GPU and then its other acceptable ones, in order."""
    from planner.catalog.gpus import provider_gpu_name
    from planner.errors import NotFound

    wanted = [plan.gpu, *plan.gpu_choices]
    if plan.gpu in ("cpu", "") or plan.gpus < 1:
        raise ProviderError("RunPod runs GPU pods only here: choose a GPU (resources.gpu) and resources.gpus ≥ 1")
    found = []
    for gpu in dict.fromkeys(wanted):
        try:
            type_id = provider_gpu_name(gpu, "runpod")
        except NotFound:
            type_id = None
        if type_id:
            found.append((gpu, type_id))
    if not found:
        raise ProviderError(f"RunPod does not offer {', '.join(dict.fromkeys(wanted))}: pick another resources.gpu")
    return found


def no_capacity_message(tried: list[str], cloud_type: str, spot: bool) -> str:
    kind = ("spot " if spot else "") + cloud_type.lower() + " cloud"
    return (f"RunPod has no free {' or '.join(tried)} in {kind} right now; list more acceptable GPUs in "
            "resources.gpu, try the other cloud (runpod.cloud_type), or launch again later")


def run_keys(state: LocalRunState, run_id: str) -> tuple[str, bytes]:
    """(client public key, pod host private key): the ones an earlier launch of this run made, else new."""
    from providers.runpod.ssh import new_key_pair

    local, host_private = state.read(run_id), state.read_key(run_id, HOST_KEY_FILE)
    if state.key_file(run_id).is_file() and host_private and local.get("client_key") and local.get("host_key"):
        return local["client_key"], host_private
    client_private, client_public = new_key_pair()
    host_private, host_public = new_key_pair()
    state.save_key(run_id, client_private)
    state.save_key(run_id, host_private, HOST_KEY_FILE)
    state.write(run_id, host_key=host_public, client_key=client_public)
    return client_public, host_private


def create_pod(api: RunpodApi, request: pods.PodRequest, type_id: str,
               find_by_name: Callable[[str], pods.PodView | None]) -> pods.PodView:
    """Create the pod; before each retry, and after the last, look for it by name (it may exist already)."""
    mutation, field = ((pods.CREATE_SPOT, "podRentInterruptable") if request.spot
                       else (pods.CREATE_ON_DEMAND, "podFindAndDeployOnDemand"))
    last: TransientProviderError | None = None
    for attempt in range(CREATE_ATTEMPTS):
        if attempt:
            api.sleep(api.first_delay_s * 2 ** (attempt - 1))
            existing = find_by_name(request.name)
            if existing is not None:
                return existing
        try:
            data = api.graphql(mutation, {"input": pods.create_input(request, type_id)}, "creating the pod",
                               retry=False, operation=CREATE)
        except TransientProviderError as exc:
            last = exc
            continue
        raw = data.get(field)
        if not isinstance(raw, dict) or not raw.get("id"):
            raise NoCapacity(f"RunPod returned no pod for {type_id}")
        return pods.pod_view(raw)
    existing = find_by_name(request.name)
    if existing is not None:
        return existing
    raise last or TransientProviderError("RunPod did not create the pod")
