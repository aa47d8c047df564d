"""Hugging Face Hub lookups for models that are not in the catalog: config.json + safetensors total.

Results are cached in the user cache dir so a model looked up once plans offline afterwards.
``HF_ENDPOINT`` is honoured (tests point it at a fake server on 127.0.0.1); ``HF_TOKEN`` is sent for
gated repositories and never printed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from planner.errors import BadInput, TuneplanError
from planner.models import ResolvedModel, from_hub_config, unknown_model
from providers.paths import cache_dir

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 8.0
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class HubModelInfo:
    model_id: str
    config: dict[str, Any]
    params_total: int | None
    gated: bool


def looks_like_hub_id(name: str) -> bool:
    return bool(_HUB_ID.match(name))


def resolve_hub_model(model_id: str, *, offline: bool = False) -> ResolvedModel:
    """Resolve a Hub id via the cache, else the network; a clear NotFound when neither works."""
    if not looks_like_hub_id(model_id):
        raise unknown_model(model_id)
    cached = _read_cache(model_id)
    info = cached or (None if offline else _fetch(model_id))
    if info is None:
        raise unknown_model(model_id, "offline and not cached: use a catalog id or a local config.json")
    if cached is None:
        _write_cache(info)
    return from_hub_config(info.model_id, info.config, info.params_total, info.gated)


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def _headers() -> dict[str, str]:
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    return {"authorization": f"Bearer {token}"} if token else {}


def _fetch(model_id: str) -> HubModelInfo:
    import httpx

    base = _endpoint()
    try:
        with httpx.Client(timeout=TIMEOUT_S, headers=_headers(), follow_redirects=True) as client:
            config_resp = client.get(f"{base}/{model_id}/resolve/main/config.json")
            if config_resp.status_code in (401, 403):
                raise BadInput(f"'{model_id}' is gated or private on the Hub: set HF_TOKEN with access to it")
            if config_resp.status_code == 404:
                raise unknown_model(model_id, "the Hub has no such repository")
            config_resp.raise_for_status()
            config = config_resp.json()
            info_resp = client.get(f"{base}/api/models/{model_id}")
            meta = info_resp.json() if info_resp.status_code == 200 else {}
    except httpx.HTTPError as exc:
        raise unknown_model(model_id, f"could not reach the Hub ({type(exc).__name__}); offline?") from None
    except ValueError:
        raise TuneplanError(f"the Hub returned something that is not JSON for '{model_id}'") from None
    if not isinstance(config, dict):
        raise BadInput(f"hub:{model_id}: config.json is not a JSON object")
    total = (meta.get("safetensors") or {}).get("total") if isinstance(meta, dict) else None
    gated = bool(meta.get("gated")) if isinstance(meta, dict) else False
    return HubModelInfo(model_id, config, int(total) if isinstance(total, int) else None, gated)


def _cache_path(model_id: str):
    return cache_dir() / "hub" / (model_id.replace("/", "--") + ".json")


def _read_cache(model_id: str) -> HubModelInfo | None:
    path = _cache_path(model_id)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return HubModelInfo(raw["model_id"], raw["config"], raw.get("params_total"), bool(raw.get("gated")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(info: HubModelInfo) -> None:
    path = _cache_path(info.model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info.__dict__), encoding="utf-8")
    tmp.replace(path)
