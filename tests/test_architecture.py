"""Parameter counts computed from architectures are exact (safetensors / MTEB totals)."""

from __future__ import annotations

import json

import pytest

from planner.arch import architecture_from_config
from planner.catalog.models import catalog_models
from planner.errors import BadInput
from planner.models import from_config_path, resolve_local

EXACT = {
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "meta-llama/Llama-3.1-8B-Instruct": 8_030_261_248,
    "Qwen/Qwen2.5-7B-Instruct": 7_615_616_512,
    "Qwen/Qwen3-32B": 32_762_123_264,
    "google/gemma-3-1b-it": 999_885_952,
    "Qwen/Qwen3-30B-A3B": 30_532_122_624,
    "sentence-transformers/all-MiniLM-L6-v2": 22_713_216,
}


@pytest.mark.parametrize("model_id, total", EXACT.items())
def test_exact_parameter_counts(model_id, total):
    assert resolve_local(model_id).arch.total_params == total


def test_every_catalog_row_matches_its_published_total():
    mismatches = {
        hf_id: (architecture_from_config(entry.config).total_params, entry.params_total)
        for hf_id, entry in catalog_models().items()
        if architecture_from_config(entry.config).total_params != entry.params_total
    }
    assert not mismatches
    assert len(catalog_models()) >= 90


def test_moe_reports_active_parameters():
    arch = resolve_local("Qwen/Qwen3-30B-A3B").arch
    assert arch.is_moe and arch.num_experts == 128 and arch.experts_per_token == 8
    # 3.3 B active per token (the model card's "A3B"): attention + 8 of 128 experts + embeddings.
    assert 3.2e9 < arch.active_params < 3.4e9


def test_gpt2_style_keys_and_tied_head():
    config = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257,
              "n_positions": 1024, "architectures": ["GPT2LMHeadModel"]}
    assert architecture_from_config(config).total_params == 124_439_808


def test_multimodal_config_plans_its_text_decoder():
    text = {"hidden_size": 2560, "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4,
            "head_dim": 256, "intermediate_size": 10240, "vocab_size": 262208, "max_position_embeddings": 131072}
    config = {"model_type": "gemma3", "text_config": text, "vision_config": {"hidden_size": 1152}}
    assert architecture_from_config(config).total_params == 3_880_263_168


def test_unknown_model_type_falls_back_to_llama_layout_with_a_note():
    config = {"model_type": "brand_new", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 128, "vocab_size": 100, "architectures": ["BrandNewForCausalLM"]}
    arch = architecture_from_config(config)
    assert arch.is_causal and arch.notes


@pytest.mark.parametrize("bad, needle", [
    ({"model_type": "llama", "hidden_size": 64}, "num_hidden_layers"),
    ({"model_type": "llama", "hidden_size": -1, "num_hidden_layers": 2, "num_attention_heads": 4,
      "vocab_size": 10}, "hidden_size"),
    ([1, 2], "JSON object"),
])
def test_malformed_configs_are_bad_input(bad, needle):
    with pytest.raises(BadInput, match=needle):
        architecture_from_config(bad)


def test_local_directory_and_broken_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(catalog_models()["meta-llama/Llama-3.2-1B"].config))
    assert from_config_path(tmp_path).arch.total_params == 1_235_814_400
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(BadInput, match="malformed JSON"):
        from_config_path(broken)
