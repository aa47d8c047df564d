"""Providers by name. Each later adapter (skypilot, modal, runpod) adds one line here; tests register fakes.

Factories are called lazily, so naming a provider never imports an SDK that the command does not use.
"""

from __future__ import annotations

from collections.abc import Callable

from planner.errors import BadInput
from planner.recommend.capabilities import CAPABILITIES
from planner.suggest import did_you_mean
from providers.base import Provider


def _local() -> Provider:
    from providers.local import LocalProvider

    return LocalProvider()


def _skypilot() -> Provider:
    from providers.skypilot import make_provider

    return make_provider()


def _modal() -> Provider:
    from providers.modal import make_provider

    return make_provider()


def _runpod() -> Provider:
    from providers.runpod import make_provider

    return make_provider()


_FACTORIES: dict[str, Callable[[], Provider]] = {"local": _local, "skypilot": _skypilot, "modal": _modal, "runpod": _runpod}


def register(name: str, factory: Callable[[], Provider]) -> None:
    """Make ``factory`` the provider called ``name`` (tests use this for the fake cloud)."""
    _FACTORIES[name] = factory


def names() -> list[str]:
    return sorted(_FACTORIES)


def get_provider(name: str) -> Provider:
    """The provider called ``name``; a launcher that is planned but not built says so."""
    factory = _FACTORIES.get(name)
    if factory is not None:
        return factory()
    cap = CAPABILITIES.get(name)
    if cap is not None:
        raise BadInput(f"cannot launch on {name}: {cap.why_not_built}")
    raise BadInput(f"unknown provider '{name}'{did_you_mean(name, [*_FACTORIES, *CAPABILITIES])}")
