"""The provider contract suite's fixtures: one ``harness`` per provider, parametrised.

A provider joins the suite with a module ``tests/contract/harness_<name>.py`` that defines
``make_harness(tmp_path) -> Harness`` around it, with its SDK or HTTP boundary faked on 127.0.0.1
(CONTRACTS §8); every test in this folder then runs against it too. One module per provider keeps the
adapters from editing a shared file.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from tests.contract.fake_cloud import FakeCloud
from tests.contract.harness import Harness


def _local(tmp_path) -> Harness:
    from providers.local import LocalProvider

    return Harness(LocalProvider(root=tmp_path / "local-root", grace_s=2.0), tmp_path)


def _fake(tmp_path) -> Harness:
    return Harness(FakeCloud(tmp_path / "cloud", provisioning_s=0.2), tmp_path)


def _discovered() -> dict:
    found = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("harness_"):
            loaded = importlib.import_module(f"tests.contract.{module.name}")
            found[module.name.removeprefix("harness_")] = loaded.make_harness
    return found


PROVIDERS = {"local": _local, "fake": _fake, **_discovered()}


@pytest.fixture(params=sorted(PROVIDERS))
def harness(request, tmp_path):
    made = PROVIDERS[request.param](tmp_path)
    yield made
    made.cleanup()
