"""``tuneplan launch --provider modal --dry-run``: the App tuneplan would deploy, as YAML, without deploying it.

The App is built with the real SDK first (``build_app``: definitions only, no network), so whatever the SDK
refuses offline (a GPU string, a name, a timeout) fails here as it would at launch. What is printed is what went
into it: the function's machine and limits, the image (its base, what is pip-installed, the bundle added to
it), the Volume and its folder, the secrets by name, the tags, and the job the first call receives.
"""

from __future__ import annotations

import sys

import yaml

from providers.modal.app import (BUNDLE_PATH, FUNCTION_NAME, SCALEDOWN_S, STARTUP_TIMEOUT_S, VOLUME_PATH, build_app,
                                 requirements, tag_value)
from providers.settings import ModalSettings
from providers.types import Bundle, LaunchPlan


def render(bundle: Bundle, plan: LaunchPlan, settings: ModalSettings, cap_s: int) -> str:
    built = build_app(bundle, plan, settings, cap_s)
    resources, segments = built.resources, built.segments
    base = (f"from_registry({plan.image.removeprefix('docker:')})" if plan.image else
            f"debian_slim(python_version={sys.version_info.major}.{sys.version_info.minor})")
    function = {"name": FUNCTION_NAME, "gpu": resources.gpu or "none (CPU)", "cpu": resources.cpu_cores,
                "memory_mib": resources.memory_gib * 1024, "timeout_s": segments.timeout_s,
                "startup_timeout_s": min(segments.timeout_s, STARTUP_TIMEOUT_S), "retries": 0,
                "scaledown_window_s": SCALEDOWN_S, "max_containers": bundle.nodes}
    if bundle.nodes > 1:
        function["clustered"] = {"size": bundle.nodes, "rdma": True}
    described = {"modal": {
        "app": {"name": built.app.name, "tags": {k: tag_value(v) for k, v in plan.tags.items()}},
        "function": function,
        "image": {"base": base, "pip_install": requirements(bundle) or "nothing",
                  "add_local_file": {"from": str(bundle.tarball), "to": BUNDLE_PATH}},
        "volume": {"name": settings.volume, "create_if_missing": True, "mount": VOLUME_PATH,
                   "folder": built.job["run_folder"]},
        "secrets": [f"modal.Secret.from_name({name})" for name in plan.secrets],
        "segments": {"count": segments.count, "each_stops_after_s": segments.stop_after_s},
        "spawn": built.job_for(0),
    }}
    return yaml.safe_dump(described, sort_keys=False, width=120)
