"""RunPod with a real account (``RUNPOD_API_KEY``): the key check, live offers and the pod listing, all free.
Skipped without a key. Launching a real pod costs money and is left to ``tuneplan launch
examples/tiny-smoke.yaml --provider runpod`` by hand."""

from __future__ import annotations

import os

import pytest

from providers.runpod import make_provider

pytestmark = pytest.mark.online


@pytest.fixture
def real_provider():
    if not os.environ.get("RUNPOD_API_KEY") or os.environ.get("RUNPOD_API_BASE_URL"):
        pytest.skip("needs RUNPOD_API_KEY for the real RunPod API (and no RUNPOD_API_BASE_URL override)")
    return make_provider()


def test_the_real_api_accepts_the_key_prices_gpus_and_lists_pods(real_provider):
    check = real_provider.check()
    assert check.ok, check.message
    offers = real_provider.offers()
    assert any(o.gpu == "RTX4090" for o in offers) and all(o.usd_per_hour > 0 for o in offers)
    assert all(r.name.startswith("tp-") for r in real_provider.list_resources())
