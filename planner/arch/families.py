"""Block layouts per model family: which linears, biases and norms each ``model_type`` has.

Counts were checked against exact safetensors / MTEB totals (see tests/test_architecture.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from planner.arch.layout import CAUSAL_LM, ENCODER, Architecture, LinearSpec

Norm = dict[str, Any]

_QK_NORM_TYPES = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text"}
_FOUR_NORM_TYPES = {"gemma2", "gemma3", "gemma3_text"}


def _decoder(cfg: dict[str, Any], n: Norm, linears: list[LinearSpec], layer_norms: int, **extra: Any) -> Architecture:
    hidden, vocab = n["hidden_size"], n["vocab_size"]
    return Architecture(
        model_type=n["model_type"],
        kind=CAUSAL_LM,
        hidden_size=hidden,
        num_layers=n["num_layers"],
        num_heads=n["num_heads"],
        num_kv_heads=n["num_kv_heads"],
        head_dim=n["head_dim"],
        intermediate_size=n["intermediate_size"],
        vocab_size=vocab,
        max_positions=n["max_positions"],
        tie_embeddings=n["tie"],
        layer_linears=tuple(linears),
        layer_norm_params=layer_norms,
        token_embedding_params=vocab * hidden,
        final_params=extra.pop("final_params", hidden),
        lm_head_params=extra.pop("lm_head_params", 0 if n["tie"] else vocab * hidden),
        notes=tuple(n.get("notes", ())),
        **extra,
    )


def _attention(n: Norm, qkv_bias: bool, o_bias: bool, fused: str | None = None) -> list[LinearSpec]:
    hidden, q_dim, kv_dim = n["hidden_size"], n["num_heads"] * n["head_dim"], n["num_kv_heads"] * n["head_dim"]
    if fused:
        qkv = [LinearSpec(fused, hidden, q_dim + 2 * kv_dim, qkv_bias)]
    else:
        qkv = [
            LinearSpec("q_proj", hidden, q_dim, qkv_bias),
            LinearSpec("k_proj", hidden, kv_dim, qkv_bias),
            LinearSpec("v_proj", hidden, kv_dim, qkv_bias),
        ]
    return qkv + [LinearSpec("o_proj", q_dim, hidden, o_bias)]


def _gated_mlp(hidden: int, inter: int, bias: bool = False, experts: int = 1,
               names=("gate_proj", "up_proj", "down_proj")) -> list[LinearSpec]:
    gate, up, down = names
    return [
        LinearSpec(gate, hidden, inter, bias, experts),
        LinearSpec(up, hidden, inter, bias, experts),
        LinearSpec(down, inter, hidden, bias, experts),
    ]


def build_llama_like(cfg: dict[str, Any], n: Norm) -> Architecture:
    """Llama, Mistral, Qwen2/3, Gemma 1/2/3, OLMo 2, Phi-3 and their MoE cousins (Mixtral, Qwen3-MoE)."""
    mtype, hidden, hd = n["model_type"], n["hidden_size"], n["head_dim"]
    attn_bias = bool(cfg.get("attention_bias", False))
    qkv_bias = mtype == "qwen2" or attn_bias
    fused = "qkv_proj" if mtype == "phi3" else None
    linears = _attention(n, qkv_bias, attn_bias, fused)
    norms = (4 if mtype in _FOUR_NORM_TYPES else 2) * hidden
    if mtype in _QK_NORM_TYPES:
        norms += 2 * hd
    if mtype == "olmo2":
        norms += (n["num_heads"] + n["num_kv_heads"]) * hd
    extra: dict[str, Any] = {}
    experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 0)
    if experts > 1:
        per_expert = int(cfg.get("moe_intermediate_size") or n["intermediate_size"])
        names = ("w1", "w3", "w2") if mtype == "mixtral" else ("gate_proj", "up_proj", "down_proj")
        linears.append(LinearSpec("gate", hidden, experts, False))
        linears += _gated_mlp(hidden, per_expert, experts=experts, names=names)
        shared = int(cfg.get("shared_expert_intermediate_size") or 0)
        if shared:
            linears += _gated_mlp(hidden, shared, names=("shared_gate_proj", "shared_up_proj", "shared_down_proj"))
            linears.append(LinearSpec("shared_expert_gate", hidden, 1, False))
        extra = {"num_experts": experts, "experts_per_token": int(cfg.get("num_experts_per_tok") or 2)}
    elif mtype == "phi3":
        inter = n["intermediate_size"]
        linears += [LinearSpec("gate_up_proj", hidden, 2 * inter), LinearSpec("down_proj", inter, hidden)]
    else:
        linears += _gated_mlp(hidden, n["intermediate_size"], bool(cfg.get("mlp_bias", False)))
    return _decoder(cfg, n, linears, norms, **extra)


def build_generic_decoder(cfg: dict[str, Any], n: Norm) -> Architecture:
    """An unknown decoder with the usual keys: assume the Llama layout (the most common one)."""
    return build_llama_like(cfg, n)


def build_gpt2(cfg: dict[str, Any], n: Norm) -> Architecture:
    hidden, inter = n["hidden_size"], n["intermediate_size"]
    linears = [
        LinearSpec("c_attn", hidden, 3 * hidden, True),
        LinearSpec("c_proj", hidden, hidden, True),
        LinearSpec("c_fc", hidden, inter, True),
        LinearSpec("mlp.c_proj", inter, hidden, True),
    ]
    arch = _decoder(cfg, n, linears, 4 * hidden, final_params=2 * hidden, gated_mlp=False, layer_norm_kind="layer")
    return _with_positions(arch, n["max_positions"] * hidden)


def build_gpt_neox(cfg: dict[str, Any], n: Norm) -> Architecture:
    hidden, inter = n["hidden_size"], n["intermediate_size"]
    linears = [
        LinearSpec("query_key_value", hidden, 3 * hidden, True),
        LinearSpec("dense", hidden, hidden, True),
        LinearSpec("dense_h_to_4h", hidden, inter, True),
        LinearSpec("dense_4h_to_h", inter, hidden, True),
    ]
    return _decoder(cfg, n, linears, 4 * hidden, final_params=2 * hidden, gated_mlp=False, layer_norm_kind="layer")


def build_falcon(cfg: dict[str, Any], n: Norm) -> Architecture:
    hidden, hd, heads = n["hidden_size"], n["head_dim"], n["num_heads"]
    new_arch = bool(cfg.get("new_decoder_architecture"))
    if new_arch:
        kv = int(cfg.get("num_kv_heads") or heads)
    else:
        kv = 1 if cfg.get("multi_query", True) else heads
    n = {**n, "num_kv_heads": kv}
    bias = bool(cfg.get("bias", False))
    inter = int(cfg.get("ffn_hidden_size") or 4 * hidden)
    linears = [
        LinearSpec("query_key_value", hidden, (heads + 2 * kv) * hd, bias),
        LinearSpec("dense", hidden, hidden, bias),
        LinearSpec("dense_h_to_4h", hidden, inter, bias),
        LinearSpec("dense_4h_to_h", inter, hidden, bias),
    ]
    norms = (4 if new_arch else 2) * hidden
    n["intermediate_size"] = inter
    return _decoder(cfg, n, linears, norms, final_params=2 * hidden, gated_mlp=False, layer_norm_kind="layer")


def build_phi(cfg: dict[str, Any], n: Norm) -> Architecture:
    """Phi-1/2: parallel attention + MLP sharing one LayerNorm; biases everywhere; LM head has a bias."""
    hidden, inter, vocab = n["hidden_size"], n["intermediate_size"], n["vocab_size"]
    linears = [
        LinearSpec("q_proj", hidden, hidden, True),
        LinearSpec("k_proj", hidden, hidden, True),
        LinearSpec("v_proj", hidden, hidden, True),
        LinearSpec("dense", hidden, hidden, True),
        LinearSpec("fc1", hidden, inter, True),
        LinearSpec("fc2", inter, hidden, True),
    ]
    head = 0 if n["tie"] else vocab * hidden + vocab
    return _decoder(cfg, n, linears, 2 * hidden, final_params=2 * hidden, lm_head_params=head,
                    gated_mlp=False, layer_norm_kind="layer")


def _with_positions(arch: Architecture, extra_params: int) -> Architecture:
    return replace(arch, other_embedding_params=arch.other_embedding_params + extra_params)


def _encoder(n: Norm, linears: list[LinearSpec], layer_norms: int, embed_other: int, final: int,
             gated: bool = False, norm_kind: str = "layer") -> Architecture:
    hidden, vocab = n["hidden_size"], n["vocab_size"]
    return Architecture(
        model_type=n["model_type"], kind=ENCODER, hidden_size=hidden, num_layers=n["num_layers"],
        num_heads=n["num_heads"], num_kv_heads=n["num_heads"], head_dim=n["head_dim"],
        intermediate_size=n["intermediate_size"], vocab_size=vocab, max_positions=n["max_positions"],
        tie_embeddings=True, layer_linears=tuple(linears), layer_norm_params=layer_norms,
        token_embedding_params=vocab * hidden, other_embedding_params=embed_other, final_params=final,
        gated_mlp=gated, layer_norm_kind=norm_kind, notes=tuple(n.get("notes", ())),
    )


def _bert_block(hidden: int, inter: int, names=("query", "key", "value", "attention.output.dense",
                                                 "intermediate.dense", "output.dense")) -> list[LinearSpec]:
    q, k, v, o, up, down = names
    return [
        LinearSpec(q, hidden, hidden, True), LinearSpec(k, hidden, hidden, True),
        LinearSpec(v, hidden, hidden, True), LinearSpec(o, hidden, hidden, True),
        LinearSpec(up, hidden, inter, True), LinearSpec(down, inter, hidden, True),
    ]


def build_bert(cfg: dict[str, Any], n: Norm) -> Architecture:
    """BERT, RoBERTa, XLM-R, ELECTRA-style: learned positions, token types, pooler."""
    hidden = n["hidden_size"]
    types = int(cfg.get("type_vocab_size", 2) or 0)
    embed_other = (n["max_positions"] + types) * hidden + 2 * hidden
    pooler = hidden * hidden + hidden if cfg.get("add_pooling_layer", True) else 0
    return _encoder(n, _bert_block(hidden, n["intermediate_size"]), 4 * hidden, embed_other, pooler)


def build_distilbert(cfg: dict[str, Any], n: Norm) -> Architecture:
    hidden = n["hidden_size"]
    names = ("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2")
    embed_other = n["max_positions"] * hidden + 2 * hidden
    return _encoder(n, _bert_block(hidden, n["intermediate_size"], names), 4 * hidden, embed_other, 0)


def build_deberta_v2(cfg: dict[str, Any], n: Norm) -> Architecture:
    """DeBERTa-v2/v3: no absolute positions; one shared relative-position table plus its LayerNorm."""
    hidden = n["hidden_size"]
    buckets = int(cfg.get("position_buckets") or 0)
    rel = (2 * buckets if buckets > 0 else 2 * int(cfg.get("max_relative_positions") or n["max_positions"]))
    names = ("query_proj", "key_proj", "value_proj", "attention.output.dense", "intermediate.dense", "output.dense")
    absolute = n["max_positions"] * hidden if cfg.get("position_biased_input", True) else 0
    types = int(cfg.get("type_vocab_size", 0) or 0) * hidden
    final = rel * hidden + (2 * hidden if "layer_norm" in str(cfg.get("norm_rel_ebd", "")) else 0)
    return _encoder(n, _bert_block(hidden, n["intermediate_size"], names), 4 * hidden,
                    absolute + types + 2 * hidden, final)


def build_mpnet(cfg: dict[str, Any], n: Norm) -> Architecture:
    hidden = n["hidden_size"]
    names = ("q", "k", "v", "o", "intermediate.dense", "output.dense")
    embed_other = n["max_positions"] * hidden + 2 * hidden
    rel_bias = int(cfg.get("relative_attention_num_buckets", 32)) * n["num_heads"]
    return _encoder(n, _bert_block(hidden, n["intermediate_size"], names), 4 * hidden, embed_other,
                    rel_bias + hidden * hidden + hidden)


def build_modernbert(cfg: dict[str, Any], n: Norm) -> Architecture:
    """ModernBERT: no biases, GLU input projection (H → 2I), the first block has no attention norm."""
    hidden, inter = n["hidden_size"], n["intermediate_size"]
    linears = [
        LinearSpec("Wqkv", hidden, 3 * hidden), LinearSpec("Wo", hidden, hidden),
        LinearSpec("Wi", hidden, 2 * inter), LinearSpec("mlp.Wo", inter, hidden),
    ]
    # Embedding norm (H) + final norm (H), minus the attention norm the first block lacks (H).
    return _encoder(n, linears, 2 * hidden, hidden, 0, gated=True)


def build_nomic_bert(cfg: dict[str, Any], n: Norm) -> Architecture:
    """nomic-bert: rotary positions, SwiGLU without biases, two token types, no pooler."""
    hidden, inter = n["hidden_size"], n["intermediate_size"]
    bias = bool(cfg.get("qkv_proj_bias", False))
    linears = [
        LinearSpec("Wqkv", hidden, 3 * hidden, bias), LinearSpec("out_proj", hidden, hidden, bias),
        LinearSpec("fc11", hidden, inter), LinearSpec("fc12", hidden, inter), LinearSpec("fc2", inter, hidden),
    ]
    types = int(cfg.get("type_vocab_size", 2) or 0)
    return _encoder(n, linears, 4 * hidden, types * hidden + 2 * hidden, 0, gated=True)


def build_gte_new(cfg: dict[str, Any], n: Norm) -> Architecture:
    """Alibaba GTE v1.5 ('new'): rotary, biased qkv/o, gated MLP with an unbiased up+gate, no pooler."""
    hidden, inter = n["hidden_size"], n["intermediate_size"]
    linears = [
        LinearSpec("qkv_proj", hidden, 3 * hidden, True), LinearSpec("o_proj", hidden, hidden, True),
        LinearSpec("up_gate_proj", hidden, 2 * inter), LinearSpec("down_proj", inter, hidden, True),
    ]
    types = int(cfg.get("type_vocab_size", 0) or 0)
    return _encoder(n, linears, 4 * hidden, types * hidden + 2 * hidden, 0, gated=True)


def build_generic_encoder(cfg: dict[str, Any], n: Norm) -> Architecture:
    """An unknown encoder with the usual keys: assume the BERT layout."""
    return build_bert(cfg, n)


BUILDERS: dict[str, Callable[[dict[str, Any], Norm], Architecture]] = {
    **{t: build_llama_like for t in (
        "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "qwen2_moe", "gemma", "gemma2",
        "gemma3", "gemma3_text", "olmo2", "phi3", "granite", "smollm3")},
    "gpt2": build_gpt2,
    "gpt_neox": build_gpt_neox,
    "falcon": build_falcon,
    "phi": build_phi,
    **{t: build_bert for t in ("bert", "roberta", "xlm-roberta", "camembert", "electra")},
    "distilbert": build_distilbert,
    "deberta-v2": build_deberta_v2,
    "mpnet": build_mpnet,
    "modernbert": build_modernbert,
    "nomic_bert": build_nomic_bert,
    "new": build_gte_new,
}
