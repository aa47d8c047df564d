"""Turning what a user typed into catalog objects, with 'did you mean' errors."""

from __future__ import annotations

from planner.catalog.gpus import GpuSpec, find_gpu
from planner.errors import BadInput
from planner.models import ResolvedModel, resolve_local, unknown_model
from planner.suggest import did_you_mean


def check_choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadInput(f"unknown {flag} '{value}'{did_you_mean(value, allowed)}; choose from {', '.join(allowed)}")


def resolve_model(name: str) -> ResolvedModel:
    """Catalog id → local path (``tiny:`` example models are generated first) → Hub (network, cached)."""
    if name.startswith("tiny:"):
        from remote_jobs.tiny_models import tiny_model_path

        name = str(tiny_model_path(name))
    local = resolve_local(name)
    if local is not None:
        return local
    from providers.hub import looks_like_hub_id, resolve_hub_model

    if not looks_like_hub_id(name):
        raise unknown_model(name)
    return resolve_hub_model(name)


def resolve_gpus(name: str | None) -> list[GpuSpec] | None:
    return [find_gpu(name)] if name else None
