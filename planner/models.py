"""Resolve what a user typed as ``--model`` into an architecture.

Order: (a) a catalog id or alias, (b) a local directory holding config.json or a config.json path,
(c) a Hub config the caller fetched (``providers.hub`` does the network part; planner stays pure).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.arch import Architecture, architecture_from_config
from planner.catalog.models import CatalogModel, catalog_ids, find_catalog_model
from planner.errors import BadInput, NotFound
from planner.suggest import close_matches


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready for estimation: its id, where its facts came from, and its architecture."""

    model_id: str
    source: str
    arch: Architecture
    gated: bool = False
    params_reported: int | None = None
    config: dict[str, Any] | None = None  # the HF config the architecture came from (for --trace)

    @property
    def params_total(self) -> int:
        return self.arch.total_params


def looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.endswith(".json") or Path(name).expanduser().is_dir()


def resolve_local(name: str) -> ResolvedModel | None:
    """(a) catalog, else (b) a local directory / config.json; None when it is neither (maybe a Hub id)."""
    entry = find_catalog_model(name)
    if entry is not None:
        return from_catalog(entry)
    if looks_like_path(name):
        return from_config_path(Path(name).expanduser())
    return None


def from_catalog(entry: CatalogModel) -> ResolvedModel:
    arch = architecture_from_config(entry.config, source=entry.hf_id)
    return ResolvedModel(entry.hf_id, "catalog", arch, gated=entry.gated, params_reported=entry.params_total,
                         config=entry.config)


def from_config_path(path: Path) -> ResolvedModel:
    """Read ``config.json`` (or ``<dir>/config.json``) and build its architecture."""
    config_path = path / "config.json" if path.is_dir() else path
    if not config_path.is_file():
        raise BadInput(f"{path}: no config.json there (give a model directory, a config.json or a catalog id)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInput(f"{config_path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
    folder = path if path.is_dir() else path.parent  # a config.json path is named after its folder
    name = folder.resolve().name or str(path)
    model_id = str(config.get("_name_or_path") or name) if isinstance(config, dict) else name
    return ResolvedModel(model_id, str(config_path), architecture_from_config(config, str(config_path)),
                         config=config)


def from_hub_config(model_id: str, config: dict[str, Any], params_reported: int | None, gated: bool) -> ResolvedModel:
    """(c) a config.json fetched from the Hub, with the safetensors total when the Hub reports one."""
    arch = architecture_from_config(config, source=f"hub:{model_id}")
    return ResolvedModel(model_id, "hub", arch, gated=gated, params_reported=params_reported, config=config)


def unknown_model(name: str, why: str = "") -> NotFound:
    """The error for a name that is in no catalog, no local path, and not reachable on the Hub."""
    by_bare = {hf_id.split("/")[-1]: hf_id for hf_id in catalog_ids()}
    matches = close_matches(name, catalog_ids()) + [by_bare[b] for b in close_matches(name.split("/")[-1], by_bare)]
    unique = list(dict.fromkeys(matches))[:3]
    hint = f" (did you mean {', '.join(repr(m) for m in unique)}?)" if unique else ""
    suffix = f"; {why}" if why else ""
    return NotFound(f"unknown model '{name}'{hint}{suffix}")
