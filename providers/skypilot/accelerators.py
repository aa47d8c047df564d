"""Which GPUs a SkyPilot task accepts, in SkyPilot's own names, cloud by cloud.

SkyPilot's accelerator names are not the same on every cloud: its RunPod catalog calls the PCIe card
"H100" and the SXM card "H100-SXM", while AWS and GCP call the SXM card "H100". A task that lists
``{H100: 1}`` without naming a cloud would therefore accept either card. So the acceptable set is
written as one ``accelerators`` mapping only when every name means the same card everywhere; otherwise
it becomes ``any_of`` with one entry per (cloud, name). Names come only from the planner's table
(``planner.catalog.gpus.provider_gpu_name``). Pure: no SDK, no I/O.
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


def _ambiguous(name: str, canonical: str, clouds: tuple[str, ...]) -> bool:
    """Does ``name`` mean another card on one of ``clouds``?"""
    for other in gpu_catalog():
        if other != canonical and name in names_by_cloud(other, clouds).values():
            return True
    return False


def acceptable_resources(gpus: list[str], count: int, clouds: tuple[str, ...]) -> dict:
    """The part of a task's ``resources`` that says which GPUs are acceptable.

    Returns ``{"accelerators": {name: count, ...}}`` when the names are unambiguous on ``clouds``, else
    ``{"any_of": [{"infra": cloud, "accelerators": "name:count"}, ...]}``. Raises ValueError when no
    acceptable GPU has a SkyPilot name on any of ``clouds``.
    """
    canonical = list(dict.fromkeys(find_gpu(g).name for g in gpus))
    per_gpu = {gpu: names_by_cloud(gpu, clouds) for gpu in canonical}
    if not any(per_gpu.values()):
        raise ValueError(f"none of {', '.join(canonical)} is offered through SkyPilot on {', '.join(clouds)}")
    simple = all(len(set(names.values())) <= 1 and not any(_ambiguous(n, gpu, clouds) for n in names.values())
                 for gpu, names in per_gpu.items())
    if simple:
        return {"accelerators": {next(iter(names.values())): count for names in per_gpu.values() if names}}
    return {"any_of": [{"infra": cloud, "accelerators": f"{name}:{count}"}
                       for gpu, names in per_gpu.items() for cloud, name in names.items()]}


def canonical_from_sky(cloud: str, name: str) -> str | None:
    """Our canonical name for SkyPilot's accelerator ``name`` on ``cloud`` (None when we do not know it)."""
    cloud = cloud.lower()
    if cloud not in CLOUD_COLUMNS:
        cloud = "aws"
    for canonical in gpu_catalog():
        if provider_gpu_name(canonical, CLOUD_COLUMNS[cloud]) == name:
            return canonical
    return None
