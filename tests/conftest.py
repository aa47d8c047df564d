"""Shared test setup: keep every test offline and away from the user's real cache/config/data dirs."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("tuneplan-home")
    monkeypatch.setenv("TUNEPLAN_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(base / "config"))  # never the user's settings.yaml
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(base / "data"))  # never the user's ledger or runs
    for name in ("TUNEPLAN_LEDGER", "TUNEPLAN_LEDGER_URL", "TUNEPLAN_RUNS_DIR", "TUNEPLAN_NOW", "TUNEPLAN_HOST_ID",
                 "TUNEPLAN_FAILPOINT"):
        monkeypatch.delenv(name, raising=False)
    # SkyPilot: never reach a developer's own API server, never report usage.
    monkeypatch.setenv("SKYPILOT_API_SERVER_LOCAL_PORT", "9")
    monkeypatch.setenv("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # No real Hub: a lookup that escapes the fake server fails fast instead of hanging.
    monkeypatch.setenv("HF_ENDPOINT", os.environ.get("TUNEPLAN_TEST_HF_ENDPOINT", "http://127.0.0.1:9"))
    yield


@pytest.fixture
def modal_harness(tmp_path):
    """``make(**options)`` → (harness, fake): the Modal provider on the fake Modal edge, cleaned up after the test."""
    from tests.contract.harness import Harness
    from tests.contract.harness_modal import make_modal

    made = []

    def make(**options):
        provider, fake = make_modal(tmp_path, **options)
        harness = Harness(provider, tmp_path)
        made.append((harness, fake))
        return harness, fake

    yield make
    for harness, fake in made:
        try:
            harness.cleanup()
        finally:
            fake.uninstall()


@pytest.fixture(params=("sqlite", "postgresql"))
def ledger_where(request, tmp_path):
    """A fresh ledger's location on each backend: a SQLite file, and a schema of the PostgreSQL test server
    (dropped afterwards). Tests of the ledger and its reports take this to run against both."""
    from tests.pg import ledger_at

    with ledger_at(request.param, tmp_path) as where:
        yield where
