"""The bundled model catalog (``data/models.csv``): architecture facts for 90+ public models.

A model id resolves to a catalog entry by its Hub id, an old alias that still redirects on the Hub, or
its bare name without the organisation (``Llama-3.1-8B-Instruct``). Each entry is turned into an
HF-style config dict so catalog models and user config.json files go through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from planner.catalog._csv import opt_int, read_rows

# Keys that real config.json files carry but the CSV has no column for (values from those configs).
_ARCH_CONFIG_EXTRAS: dict[str, dict[str, Any]] = {
    "roberta": {"type_vocab_size": 1},
    "xlm-roberta": {"type_vocab_size": 1},
    "deberta-v2": {"position_buckets": 256, "position_biased_input": False, "norm_rel_ebd": "layer_norm",
                   "type_vocab_size": 0, "max_relative_positions": -1},
    "mixtral": {},
}

# Old Hub ids that still redirect to the catalog's canonical ids (from models-README).
_ALIASES = {
    "bert-base-uncased": "google-bert/bert-base-uncased",
    "bert-large-uncased": "google-bert/bert-large-uncased",
    "distilbert-base-uncased": "distilbert/distilbert-base-uncased",
    "roberta-base": "FacebookAI/roberta-base",
    "roberta-large": "FacebookAI/roberta-large",
    "xlm-roberta-base": "FacebookAI/xlm-roberta-base",
    "gpt2": "openai-community/gpt2",
    "meta-llama/Meta-Llama-3.1-8B": "meta-llama/Llama-3.1-8B",
    "meta-llama/Meta-Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
}


@dataclass(frozen=True)
class CatalogModel:
    """One catalog row: its id, family, license/gating and the config dict that describes it."""

    hf_id: str
    family: str
    kind: str
    params_total: int
    gated: bool
    license: str
    source: str
    config: dict[str, Any]


def _row_to_config(row: dict[str, str]) -> dict[str, Any]:
    arch = row["arch"]
    config: dict[str, Any] = {
        "model_type": arch,
        "hidden_size": int(row["hidden_size"]),
        "num_hidden_layers": int(row["num_layers"]),
        "num_attention_heads": int(row["num_attention_heads"]),
        "intermediate_size": int(row["intermediate_size"]),
        "vocab_size": int(row["vocab_size"]),
        "max_position_embeddings": int(row["max_position_embeddings"]),
    }
    optional = {
        "num_key_value_heads": opt_int(row["num_key_value_heads"]),
        "head_dim": opt_int(row["head_dim"]),
        "num_experts_per_tok": opt_int(row["experts_per_token"]),
        "moe_intermediate_size": opt_int(row["moe_intermediate_size"]),
    }
    experts = opt_int(row["num_experts"])
    if experts:
        optional["num_local_experts" if arch == "mixtral" else "num_experts"] = experts
    config.update({k: v for k, v in optional.items() if v is not None})
    if row["tie_word_embeddings"]:
        config["tie_word_embeddings"] = row["tie_word_embeddings"] == "true"
    config["architectures"] = ["ForCausalLM"] if row["kind"] == "causal-lm" else ["Model"]
    config.update(_ARCH_CONFIG_EXTRAS.get(arch, {}))
    return config


@cache
def catalog_models() -> dict[str, CatalogModel]:
    """Every catalog model by its canonical Hub id."""
    models = {}
    for row in read_rows("models.csv"):
        models[row["hf_id"]] = CatalogModel(
            hf_id=row["hf_id"], family=row["family"], kind=row["kind"], params_total=int(row["params_total"]),
            gated=row["gated"] == "yes", license=row["license"], source=row["source"], config=_row_to_config(row),
        )
    return models


@cache
def _lookup_table() -> dict[str, str]:
    """Lower-cased names people type → canonical id (full id, alias, and unambiguous bare name)."""
    table: dict[str, str] = {}
    bare_counts: dict[str, int] = {}
    for hf_id in catalog_models():
        bare = hf_id.split("/", 1)[-1].lower()
        bare_counts[bare] = bare_counts.get(bare, 0) + 1
    for hf_id in catalog_models():
        table[hf_id.lower()] = hf_id
        bare = hf_id.split("/", 1)[-1].lower()
        if bare_counts[bare] == 1:
            table.setdefault(bare, hf_id)
    for alias, target in _ALIASES.items():
        table[alias.lower()] = target
    return table


def find_catalog_model(name: str) -> CatalogModel | None:
    """The catalog entry a typed name refers to, or None."""
    hf_id = _lookup_table().get(name.strip().lower())
    return catalog_models()[hf_id] if hf_id else None


def catalog_ids() -> list[str]:
    return list(catalog_models())
