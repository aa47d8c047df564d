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
