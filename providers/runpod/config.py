"""Where the RunPod provider's key, endpoint and pod defaults come from, in one place.

Key: ``RUNPOD_API_KEY``, else the settings file's ``runpod.api_key``, else the runpod SDK's own config file
(``~/.runpod/config.toml``, written by ``runpod config``). The SDK is imported only when that file exists:
it costs about 1.6 s. Endpoint: ``RUNPOD_API_BASE_URL`` (the SDK's variable, so tests can point every call
at a fake server on 127.0.0.1), else ``runpod.api_base_url``, else https://api.runpod.io.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_URL = "https://api.runpod.io"
KEY_FIX = ("create a key at https://www.runpod.io/console/user/settings (API Keys) and set RUNPOD_API_KEY, "
           "or run `runpod config`")


@dataclass(frozen=True)
class PodDefaults:
    """What every pod gets unless the plan says otherwise (from ``settings.runpod``)."""

    cloud_type: str = "secure"
    image: str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
    container_disk_gb: int = 50
    volume_gb: int = 0
    pull_window_s: int = 900
    boot_timeout_s: int = 1200


def load_settings_section():
    from providers.settings import load_settings

    return load_settings().runpod


def api_key(section=None) -> str | None:
    """The API key, or None when none is configured anywhere. Never printed."""
    from_env = os.environ.get("RUNPOD_API_KEY")
    if from_env:
        return from_env
    section = section if section is not None else load_settings_section()
    if section.api_key is not None and section.api_key.get_secret_value():
        return section.api_key.get_secret_value()
    return _sdk_config_key()


def base_url(section=None) -> str:
    from_env = os.environ.get("RUNPOD_API_BASE_URL")
    if from_env:
        return from_env.rstrip("/")
    section = section if section is not None else load_settings_section()
    return (section.api_base_url or DEFAULT_BASE_URL).rstrip("/")


def pod_defaults(section=None) -> PodDefaults:
    section = section if section is not None else load_settings_section()
    return PodDefaults(section.cloud_type, section.image, section.container_disk_gb, section.volume_gb,
                       section.pull_window_s, section.boot_timeout_s)


def _sdk_config_key() -> str | None:
    """The key ``runpod config`` saved, read by the SDK itself (only when its file exists)."""
    if not (Path.home() / ".runpod" / "config.toml").is_file():
        return None
    try:
        from runpod.cli.groups.config.functions import get_credentials
    except ImportError:
        return None
    try:
        credentials = get_credentials("default")
    except (OSError, ValueError):
        return None
    key = (credentials or {}).get("api_key")
    return str(key) if key else None
