"""The RunPod launcher: one pod per run, driven through RunPod's GraphQL API, the bundle carried on and the
outputs carried off over SSH with a per-run key, and a dead-man agent on the pod that ends the pod by itself
(CONTRACTS §7, §8; the design is in ``providers/runpod/provider.py``).

Importing this package imports neither the ``runpod`` SDK nor ``httpx``/``paramiko``: the registry calls
``make_provider`` lazily and every module imports what it needs inside the functions that use it. Inside
the package the SDK is always ``import runpod`` (absolute), never this package.
"""

from __future__ import annotations


def make_provider(**options):
    """The RunPod provider (the registry calls this lazily)."""
    from providers.runpod.provider import RunpodProvider

    return RunpodProvider(**options)
