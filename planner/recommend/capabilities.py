"""What each launcher can do, declared as data (never discovered by trying a launch).

``launchable`` on a candidate is read from this one table. A launcher that has not been built yet says
so with a human reason; when its issue lands, its row changes here and nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LauncherCapability:
    """One launcher: whether the project can run jobs through it yet, and its limits."""

    name: str
    built: bool
    why_not_built: str
    spot: bool
    max_gpus_per_node: int
    multi_node: bool
    why_one_node: str = ""
    """Why a run on several machines cannot go through this launcher (empty where it can)."""
    max_nodes: int = 1
    cluster_gpus_per_node: int = 0
    """GPUs each machine of a multi-node run must take (0: any count): Modal's clusters take whole hosts."""


CAPABILITIES: dict[str, LauncherCapability] = {
    cap.name: cap for cap in (
        LauncherCapability("local", True, "", False, 8, False, "the local provider runs this one machine"),
        # num_nodes in the task; torchrun on every node from SKYPILOT_NODE_RANK / SKYPILOT_NODE_IPS
        LauncherCapability("skypilot", True, "", True, 8, True, max_nodes=16),
        LauncherCapability("runpod", True, "", True, 8, False,
                           "RunPod runs several machines as Instant Clusters, a separate API tuneplan does not "
                           "drive yet: one pod of up to 8 GPUs"),
        # @modal.clustered(size=nodes): containers scheduled together, each with all 8 GPUs of its host, up to
        # 64 devices (modal.com/docs/guide/multi-node-training, read 2026-12-03)
        LauncherCapability("modal", True, "", False, 8, True, max_nodes=8, cluster_gpus_per_node=8),
    )
}


# Spot through a launcher on a cloud where it cannot be had (read from SkyPilot 0.14's cloud classes: Lambda
# declares no spot instances; SkyPilot's managed spot jobs mount a bucket, which its RunPod support cannot do).
NO_SPOT_VIA: dict[tuple[str, str], str] = {
    ("skypilot", "lambda"): "Lambda has no spot instances",
    ("skypilot", "runpod"): "SkyPilot runs spot as managed jobs that mount a bucket, which RunPod pods cannot; "
                            "the runpod launcher's interruptible pods can",
}


def launchable(launcher: str, gpus: int, spot: bool, cloud: str = "", nodes: int = 1) -> tuple[bool, str]:
    """(can the project run this configuration now?, why not) — from the tables above. ``gpus`` is per node."""
    if spot and (launcher, cloud) in NO_SPOT_VIA:
        return False, NO_SPOT_VIA[(launcher, cloud)]
    cap = CAPABILITIES.get(launcher)
    if cap is None:
        return False, f"no launcher named {launcher}"
    if gpus > cap.max_gpus_per_node:
        return False, f"{gpus} GPUs in one machine: {launcher} runs up to {cap.max_gpus_per_node} per node"
    if nodes > 1 and not cap.multi_node:
        return False, f"{nodes} nodes: {cap.why_one_node}"
    if nodes > cap.max_nodes:
        return False, f"{nodes} nodes: {launcher} runs up to {cap.max_nodes}"
    if nodes > 1 and cap.cluster_gpus_per_node and gpus != cap.cluster_gpus_per_node:
        return False, (f"{nodes} nodes of {gpus} GPUs: {launcher} clusters take all "
                       f"{cap.cluster_gpus_per_node} GPUs of every machine")
    if spot and not cap.spot:
        return False, f"{launcher} has no spot/interruptible machines"
    if not cap.built:
        return False, cap.why_not_built
    return True, ""


def multi_node(launcher: str, gpus_per_node: int | None = None) -> bool:
    """Can this launcher run one job on several machines (of ``gpus_per_node`` GPUs each, where given)?"""
    cap = CAPABILITIES.get(launcher)
    if cap is None or not cap.multi_node:
        return False
    return not (gpus_per_node is not None and cap.cluster_gpus_per_node
                and gpus_per_node != cap.cluster_gpus_per_node)
