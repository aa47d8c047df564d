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


CAPABILITIES: dict[str, LauncherCapability] = {
    cap.name: cap for cap in (
        LauncherCapability("local", True, "", False, 8, False, "the local provider runs this one machine"),
        # num_nodes in the task; torchrun on every node from SKYPILOT_NODE_RANK / SKYPILOT_NODE_IPS
        LauncherCapability("skypilot", True, "", True, 8, True, max_nodes=16),
        LauncherCapability("runpod", True, "", True, 8, False,
                           "RunPod runs several machines as Instant Clusters, a separate API tuneplan does not "
                           "drive yet: one pod of up to 8 GPUs"),
        LauncherCapability("modal", True, "", False, 8, False,
                           "Modal's multi-node clusters (@modal.clustered, beta) are not driven by tuneplan yet: "
                           "one container of up to 8 GPUs"),
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
    if spot and not cap.spot:
        return False, f"{launcher} has no spot/interruptible machines"
    if not cap.built:
        return False, cap.why_not_built
    return True, ""


def multi_node(launcher: str) -> bool:
    """Can this launcher run one job on several machines?"""
    cap = CAPABILITIES.get(launcher)
    return cap is not None and cap.multi_node
