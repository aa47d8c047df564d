"""The SkyPilot launcher (extra ``skypilot``): AWS, GCP, Azure, Lambda, RunPod and more from one task.

``make_provider()`` builds it from the user's settings. Nothing here imports ``sky`` until a method
needs it: importing ``providers.skypilot`` is cheap and works without the extra installed.
"""

from __future__ import annotations

from providers.skypilot.provider import SkyPilotProvider
from providers.skypilot.task_config import TaskOptions


def options_from_settings() -> TaskOptions:
    """The ``skypilot:`` section of settings.yaml, where there is one; defaults otherwise."""
    from providers.settings import load_settings

    section = getattr(load_settings(), "skypilot", None)
    if section is None:
        return TaskOptions()
    return TaskOptions(clouds=tuple(section.clouds), disk_gib=section.disk_gib, image=section.image,
                       idle_minutes=section.idle_minutes, bucket=section.bucket,
                       controller_usd_per_hour=section.controller_usd_per_hour)


def make_provider() -> SkyPilotProvider:
    return SkyPilotProvider(options_from_settings())


__all__ = ["SkyPilotProvider", "TaskOptions", "make_provider"]
