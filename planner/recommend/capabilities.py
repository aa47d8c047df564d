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


CAPABILITIES: dict[str, LauncherCapability] = {
    cap.name: cap for cap in (
        LauncherCapability("local", True, "", False, 8, False),
        LauncherCapability("skypilot", True, "", True, 8, False),
        LauncherCapability("runpod", True, "", True, 8, False),
        LauncherCapability("modal", True, "", False, 8, False),
    )
}


# Spot through a launcher on a cloud where it cannot be had (read from SkyPilot 0.14's cloud classes: Lambda
# declares no spot instances; SkyPilot's managed spot jobs mount a bucket, which its RunPod support cannot do).
NO_SPOT_VIA: dict[tuple[str, str], str] = {
    ("skypilot", "lambda"): "Lambda has no spot instances",
    ("skypilot", "runpod"): "SkyPilot runs spot as managed jobs that mount a bucket, which RunPod pods cannot; "
                            "the runpod launcher's interruptible pods can",
}


def launchable(launcher: str, gpus: int, spot: bool, cloud: str = "") -> tuple[bool, str]:
    """(can the project run this configuration now?, why not) — from the tables above."""
    if spot and (launcher, cloud) in NO_SPOT_VIA:
        return False, NO_SPOT_VIA[(launcher, cloud)]
    cap = CAPABILITIES.get(launcher)
    if cap is None:
        return False, f"no launcher named {launcher}"
    if gpus > cap.max_gpus_per_node and not cap.multi_node:
        return False, f"{gpus} GPUs need several nodes; {launcher} runs one node of up to {cap.max_gpus_per_node}"
    if spot and not cap.spot:
        return False, f"{launcher} has no spot/interruptible machines"
    if not cap.built:
        return False, cap.why_not_built
    return True, ""
