"""Turn an HF ``config.json`` dict into an :class:`Architecture`.

Config key names differ between families (``n_embd`` / ``hidden_size`` / ``dim`` …); this module
normalises them and knows each family's block layout (fused qkv, biases, norms, MoE experts), so that
parameter counts come out exact.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from planner.arch import families
from planner.arch.layout import Architecture
from planner.errors import BadInput

_KEYS = {
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim"),
    "num_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "num_heads": ("num_attention_heads", "n_head", "n_heads", "num_heads"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_dim", "hidden_dim", "ffn_hidden_size"),
    "max_positions": ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "seq_length"),
}

# Where a config has no tie_word_embeddings key, HF falls back to each config class's default.
_TIE_DEFAULT = {
    "llama": False, "mistral": False, "mixtral": False, "qwen2": False, "qwen3": False,
    "qwen3_moe": False, "qwen2_moe": False, "phi3": False, "phi": False, "olmo2": False,
    "gpt_neox": False, "gemma": True, "gemma2": True, "gemma3": True, "gemma3_text": True,
    "gpt2": True, "falcon": True,
}


def architecture_from_config(config: dict[str, Any], source: str = "config.json") -> Architecture:
    """Build the architecture of a model from its config dict.

    Raises:
        BadInput: when the config lacks the keys every transformer has (it is then not one we can plan).
    """
    if not isinstance(config, dict):
        raise BadInput(f"{source}: expected a JSON object, got {type(config).__name__}")
    cfg = _flatten_text_config(config)
    model_type = str(cfg.get("model_type") or "").strip() or "unknown"
    norm = _normalise(cfg, model_type, source)
    builder = families.BUILDERS.get(model_type)
    if builder is None:
        builder = families.build_generic_decoder if _looks_causal(cfg) else families.build_generic_encoder
        norm["notes"] = (f"model_type '{model_type}' is not known; assumed a standard layout",)
    arch = builder(cfg, norm)
    if _first(cfg, _KEYS["max_positions"]) is None:
        arch = replace(arch, positions_known=False)
    return arch


def _flatten_text_config(config: dict[str, Any]) -> dict[str, Any]:
    """Multimodal configs (gemma3) keep the decoder under ``text_config``: plan that decoder."""
    text = config.get("text_config")
    if isinstance(text, dict) and "hidden_size" in text:
        merged = dict(text)
        merged.setdefault("model_type", config.get("model_type"))
        merged["model_type"] = config.get("model_type") or text.get("model_type")
        if "tie_word_embeddings" not in merged and "tie_word_embeddings" in config:
            merged["tie_word_embeddings"] = config["tie_word_embeddings"]
        return merged
    return config


def _first(cfg: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = cfg.get(name)
        if value is not None:
            return value
    return None


def _positive_int(value: Any, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise BadInput(f"{source}: '{key}' must be a positive integer, got {value!r}")
    return int(value)


def _normalise(cfg: dict[str, Any], model_type: str, source: str) -> dict[str, Any]:
    """Common fields under one set of names; missing essentials are a BadInput naming the key."""
    out: dict[str, Any] = {"model_type": model_type}
    for field, names in _KEYS.items():
        value = _first(cfg, names)
        if value is None:
            if field in ("intermediate_size", "max_positions"):
                continue
            raise BadInput(f"{source}: missing '{names[0]}' (is this a transformer config.json?)")
        out[field] = _positive_int(value, names[0], source)
    hidden, heads = out["hidden_size"], out["num_heads"]
    out.setdefault("intermediate_size", 4 * hidden)
    out.setdefault("max_positions", 2048)
    out["head_dim"] = _positive_int(cfg.get("head_dim") or hidden // heads, "head_dim", source)
    kv = _first(cfg, ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"))
    out["num_kv_heads"] = _positive_int(kv, "num_key_value_heads", source) if kv else heads
    tie = cfg.get("tie_word_embeddings")
    out["tie"] = bool(_TIE_DEFAULT.get(model_type, True) if tie is None else tie)
    return out


def _looks_causal(cfg: dict[str, Any]) -> bool:
    archs = " ".join(cfg.get("architectures") or [])
    return "CausalLM" in archs or "LMHead" in archs or bool(cfg.get("is_decoder"))
