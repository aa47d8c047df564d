"""Where tuneplan keeps its files: user cache/config/data dirs, overridable for tests and CI."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``TUNEPLAN_CACHE_DIR`` or the platform's user cache dir (created on demand)."""
    override = os.environ.get("TUNEPLAN_CACHE_DIR")
    if override:
        path = Path(override)
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("tuneplan"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """``TUNEPLAN_CONFIG_DIR`` or the platform's user config dir (not created: settings are optional)."""
    override = os.environ.get("TUNEPLAN_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("tuneplan"))


def data_dir() -> Path:
    """``TUNEPLAN_DATA_DIR`` or the platform's user data dir (created on demand, 0700): the ledger, fetched
    runs and the local provider's work dirs live here, not in the cache, because losing them loses money
    records; and only their owner may read them (training data, adapters, spending)."""
    from providers.private_files import private_dir

    override = os.environ.get("TUNEPLAN_DATA_DIR")
    if override:
        path = Path(override)
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("tuneplan"))
    return private_dir(path)
