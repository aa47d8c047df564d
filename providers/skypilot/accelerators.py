"""Which GPUs a SkyPilot task accepts, in SkyPilot's own names, cloud by cloud.

SkyPilot's accelerator names are not the same on every cloud: its RunPod catalog calls the PCIe card
"H100" and the SXM card "H100-SXM", while AWS and GCP call the SXM card "H100". And a task that names
no cloud may be placed on **any** cloud the user's credentials enable (``skypilot.clouds`` is ours, not
SkyPilot's): Lambda's H100 PCIe for a plan priced as H100 SXM. So the acceptable set is always written
as ``any_of`` with one entry per (cloud, name), each pinned with ``infra:``: SkyPilot may choose only
among the clouds we priced, and only the card we priced there. Names come only from the planner's table
(``planner.catalog.gpus.provider_gpu_name``), and only offers our price catalog holds are
acceptable. No SDK.
"""

from __future__ import annotations

from planner.catalog.gpus import find_gpu, gpu_catalog, provider_gpu_name

# The clouds our price catalogs know, and which column of the name table holds SkyPilot's name there.
CLOUD_COLUMNS = {"aws": "skypilot", "gcp": "skypilot", "azure": "skypilot", "lambda": "lambda",
                 "runpod": "skypilot-runpod"}


def names_by_cloud(canonical: str, clouds: tuple[str, ...]) -> dict[str, str]:
    """SkyPilot's name for one canonical GPU on each of ``clouds`` that offers it."""
    found = {}
    for cloud in clouds:
        name = provider_gpu_name(canonical, CLOUD_COLUMNS[cloud])
        if name:
            found[cloud] = name
    return found


def acceptable_resources(gpus: list[str], count: int, clouds: tuple[str, ...]) -> dict:
    """The part of a task's ``resources`` that says which GPUs are acceptable, and where:
    ``{"any_of": [{"infra": cloud, "accelerators": "name:count"}, ...]}``, in the order of ``gpus`` (the
    priced GPU first). Raises ValueError when no acceptable GPU has a SkyPilot name on any of ``clouds``.
    """
    canonical = list(dict.fromkeys(find_gpu(g).name for g in gpus))
    priced = _priced_offers()
    per_gpu = {gpu: {cloud: name for cloud, name in names_by_cloud(gpu, clouds).items() if (cloud, gpu) in priced}
               for gpu in canonical}
    if not any(per_gpu.values()):
        raise ValueError(f"none of {', '.join(canonical)} is offered through SkyPilot on "
                         f"{', '.join(clouds)} in our price catalog")
    return {"any_of": [{"infra": cloud, "accelerators": f"{name}:{count}"}
                       for gpu, names in per_gpu.items() for cloud, name in names.items()]}


def _priced_offers() -> set[tuple[str, str]]:
    """(cloud, canonical GPU) of every card our price catalog prices on that cloud: a card SkyPilot could
    choose there but we never priced (GCP has no A10G; our table's name for it is AWS's) is left out."""
    from providers.prices_refresh import current_prices

    return {(row.cloud, row.gpu) for row in current_prices()}


def canonical_from_sky(cloud: str, name: str) -> str | None:
    """Our canonical name for SkyPilot's accelerator ``name`` on ``cloud`` (None when we do not know it)."""
    cloud = cloud.lower()
    if cloud not in CLOUD_COLUMNS:
        cloud = "aws"
    for canonical in gpu_catalog():
        if provider_gpu_name(canonical, CLOUD_COLUMNS[cloud]) == name:
            return canonical
    return None
