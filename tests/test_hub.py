"""Hub lookups for models outside the catalog, through the real httpx client and a fake Hub on
127.0.0.1 (HF_ENDPOINT): exact totals from safetensors metadata, caching, gating, offline."""

from __future__ import annotations

import pytest

from planner.catalog.models import catalog_models
from planner.errors import BadInput, NotFound
from providers.hub import resolve_hub_model
from tests.fakes import serve

SMOL_CONFIG = dict(catalog_models()["HuggingFaceTB/SmolLM2-135M"].config, model_type="llama")


def hub_routes(model_id: str, config: dict, total: int | None = None, status: int = 200):
    info = {"id": model_id, "gated": False}
    if total:
        info["safetensors"] = {"total": total, "parameters": {"BF16": total}}
    return {
        f"/{model_id}/resolve/main/config.json": lambda body, headers: (status, config),
        f"/api/models/{model_id}": lambda body, headers: (200, info),
    }


def test_resolves_a_hub_model_and_caches_it(monkeypatch):
    model_id = "someone/tiny-llama-clone"
    with serve(hub_routes(model_id, SMOL_CONFIG, total=134_515_008)) as (url, log):
        monkeypatch.setenv("HF_ENDPOINT", url)
        resolved = resolve_hub_model(model_id)
    assert resolved.arch.total_params == resolved.params_reported == 134_515_008
    assert resolved.source == "hub" and len(log) == 2
    # The server is gone now: a second lookup is answered from the cache.
    assert resolve_hub_model(model_id).arch.total_params == 134_515_008


def test_token_is_sent_for_gated_models_and_401_is_explained(monkeypatch):
    model_id = "org/gated-model"
    monkeypatch.setenv("HF_TOKEN", "hf_canary_secret")
    with serve(hub_routes(model_id, {"error": "gated"}, status=401)) as (url, log):
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(BadInput, match="gated") as excinfo:
            resolve_hub_model(model_id)
    assert log[0]["headers"]["authorization"] == "Bearer hf_canary_secret"
    assert "hf_canary_secret" not in str(excinfo.value)


def test_missing_repository_suggests_catalog_ids(monkeypatch):
    with serve({}) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(NotFound, match="did you mean"):
            resolve_hub_model("Qwen/Qwen2.5-7B-Instrukt")


def test_offline_says_so_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(NotFound) as excinfo:
        resolve_hub_model("org/never-seen")
    assert "could not reach the Hub" in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_malformed_config_from_the_hub_is_bad_input(monkeypatch):
    with serve(hub_routes("org/odd", {"model_type": "llama", "hidden_size": "big"})) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(BadInput, match="hidden_size|num_hidden_layers"):
            resolve_hub_model("org/odd")
