"""The provider contract suite's fixtures: one ``harness`` per provider, parametrised.

A later provider joins the suite by adding a factory to ``PROVIDERS`` that returns a ``Harness`` around it
(with its SDK or HTTP boundary faked on 127.0.0.1, CONTRACTS §8); every test in this folder then runs
against it too.
"""

from __future__ import annotations

import pytest

from tests.contract.fake_cloud import FakeCloud
from tests.contract.harness import Harness


def _local(tmp_path) -> Harness:
    from providers.local import LocalProvider

    return Harness(LocalProvider(root=tmp_path / "local-root", grace_s=2.0), tmp_path)


def _fake(tmp_path) -> Harness:
    return Harness(FakeCloud(tmp_path / "cloud", provisioning_s=0.2), tmp_path)


PROVIDERS = {"local": _local, "fake": _fake}


@pytest.fixture(params=sorted(PROVIDERS))
def harness(request, tmp_path):
    made = PROVIDERS[request.param](tmp_path)
    yield made
    made.cleanup()
