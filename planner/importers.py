"""Other tools' training configs read as tuneplan job specs: an axolotl YAML, a LLaMA-Factory YAML, or a TRL
``SFTConfig``/``DPOConfig`` YAML (the TRL CLI's ``--config`` file). Only the keys that change memory, time or
data are read; every other key is listed back as ignored, so nothing is silently assumed. The stack is set
to the tool's (``planner.estimate.stacks``), so the plan is for the stack the config runs on.

Key names are the tools' documented ones (axolotl's config reference; LLaMA-Factory's examples/*.yaml and
hparams; TRL's SFTConfig, DPOConfig and ModelConfig fields). Pure: a dict in, a dict out.
"""

from __future__ import annotations

import re
from typing import Any

from planner.errors import BadInput

OPTIMIZERS = {  # the tools' optimizer names -> ours (HF TrainingArguments.optim names and axolotl's)
    "adamw_torch": "adamw", "adamw_torch_fused": "adamw", "adamw_hf": "adamw", "adamw": "adamw",
    "adamw_bnb_8bit": "adamw_8bit", "adamw_8bit": "adamw_8bit", "paged_adamw_8bit": "paged_adamw_8bit",
    "paged_adamw_32bit": "paged_adamw_32bit", "adafactor": "adafactor", "sgd": "sgd",
}


def foreign_format(raw: dict[str, Any]) -> str | None:
    """Which tool wrote this config (None: a tuneplan spec)."""
    if "model" in raw:
        return None
    if "base_model" in raw:
        return "axolotl"
    if "model_name_or_path" in raw and raw.keys() & {"finetuning_type", "stage", "cutoff_len", "template"}:
        return "llama-factory"
    if "model_name_or_path" in raw:
        return "trl"
    return None


def import_config(raw: dict[str, Any], tool: str) -> tuple[dict[str, Any], list[str]]:
    """(a tuneplan job spec as a dict, the keys of ``raw`` it did not read)."""
    reader = {"axolotl": _axolotl, "llama-factory": _llama_factory, "trl": _trl}[tool]
    used: set[str] = set()

    def get(key: str, default: Any = None) -> Any:
        if key in raw:
            used.add(key)
            return raw[key]
        return default

    spec = reader(get)
    _drop_none(spec)
    ignored = sorted(k for k in raw if k not in used)
    sharding = spec.get("resources", {}).pop("sharding", None)
    if sharding:  # none of these configs says how many GPUs it shards over (the launcher does)
        key = "deepspeed" if "deepspeed" in raw else "fsdp" if "fsdp" in raw else "fsdp_config"
        ignored.append(f"{key} ({sharding} over a GPU count the config does not name: "
                       f"plan with --gpus N --sharding {sharding})")
    return spec, ignored


def _axolotl(get) -> dict[str, Any]:
    adapter = str(get("adapter") or "").lower()
    in_4bit, in_8bit = bool(get("load_in_4bit")), bool(get("load_in_8bit"))
    method, quant = _method(adapter in ("lora", "qlora"), adapter == "qlora" or in_4bit, in_8bit)
    targets = "all-linear" if get("lora_target_linear") else get("lora_target_modules")
    plugins = get("plugins") or []
    plugins = " ".join(str(p) for p in (plugins if isinstance(plugins, list) else [plugins])).lower()
    liger = "liger" in plugins or any(get(k) for k in ("liger_rms_norm", "liger_glu_activation",
                                                        "liger_fused_linear_cross_entropy"))
    datasets = get("datasets") or []
    first = datasets[0] if isinstance(datasets, list) and datasets and isinstance(datasets[0], dict) else {}
    return {
        "name": "axolotl-import", "model": _required(get("base_model"), "base_model"),
        "task": "dpo" if str(get("rl") or "").lower() == "dpo" else "sft", "method": method, "quantization": quant,
        "lora": {"r": get("lora_r"), "alpha": get("lora_alpha"), "dropout": get("lora_dropout"), "targets": targets},
        "data": {"train": first.get("path")},
        "training": {
            "stack": "axolotl", "seq_len": get("sequence_len"), "micro_batch_size": get("micro_batch_size"),
            "grad_accum": get("gradient_accumulation_steps"), "epochs": get("num_epochs"),
            "max_steps": get("max_steps"), "learning_rate": get("learning_rate"),
            "grad_ckpt": bool(get("gradient_checkpointing")) if get("gradient_checkpointing") is not None else None,
            "attn": "flash" if get("flash_attention") else "sdpa",
            "packing": get("sample_packing"), "optimizer": _optimizer(get("optimizer")),
            "precision": _precision(get("bf16"), get("fp16")), "kernels": "liger" if liger else None,
        },
        "resources": {"sharding": _sharding(get("fsdp") or get("fsdp_config"), get("deepspeed"))},
    }


def _llama_factory(get) -> dict[str, Any]:
    finetuning = str(get("finetuning_type") or "lora").lower()
    bits = get("quantization_bit")
    method, quant = _method(finetuning == "lora", bits == 4, bits == 8)
    stage = str(get("stage") or "sft").lower()
    flash = str(get("flash_attn") or "auto").lower()
    target = get("lora_target")
    unsloth = bool(get("use_unsloth"))
    dataset = get("dataset")
    return {
        "name": "llama-factory-import", "model": _required(get("model_name_or_path"), "model_name_or_path"),
        "task": "dpo" if stage == "dpo" else "sft", "method": method, "quantization": quant,
        "lora": {"r": get("lora_rank"), "alpha": get("lora_alpha"), "dropout": get("lora_dropout"),
                 "targets": "all-linear" if str(target or "all").lower() == "all" else target},
        "data": {"train": str(dataset).split(",")[0].strip() if dataset else None},
        "training": {
            "stack": "unsloth" if unsloth else "llama-factory", "seq_len": get("cutoff_len"),
            "micro_batch_size": get("per_device_train_batch_size"), "grad_accum": get("gradient_accumulation_steps"),
            "epochs": get("num_train_epochs"), "max_steps": get("max_steps"), "learning_rate": get("learning_rate"),
            "attn": {"fa2": "flash", "sdpa": "sdpa", "disabled": "eager"}.get(flash, "sdpa"),
            "packing": bool(get("packing") or get("neat_packing")) or None, "optimizer": _optimizer(get("optim")),
            # a full fine-tune keeps fp32 trainable weights unless pure_bf16 (LLaMA-Factory's model loader casts
            # trainable parameters to fp32 when it is off, its default): bf16 autocast over fp32 masters
            "precision": _mixed_when(_precision(get("bf16"), get("fp16")), method == "full" and not get("pure_bf16")),
            "kernels": "liger" if get("enable_liger_kernel") else None,
        },
        "resources": {"sharding": _sharding(None, get("deepspeed"))},
    }


def _trl(get) -> dict[str, Any]:
    use_peft = bool(get("use_peft"))
    method, quant = _method(use_peft, bool(get("load_in_4bit")), bool(get("load_in_8bit")))
    attn = str(get("attn_implementation") or "sdpa").lower()
    return {
        "name": "trl-import", "model": _required(get("model_name_or_path"), "model_name_or_path"),
        "task": "dpo" if get("beta") is not None else "sft", "method": method, "quantization": quant,
        "lora": {"r": get("lora_r"), "alpha": get("lora_alpha"), "dropout": get("lora_dropout"),
                 "targets": get("lora_target_modules")},
        "data": {"train": get("dataset_name")},
        "training": {
            # TRL >= 1.0 is the stack our templates run (the fused LM head); an older TRL is --stack hf-legacy
            "stack": "tuneplan", "seq_len": get("max_length", get("max_seq_length")),
            "micro_batch_size": get("per_device_train_batch_size"), "grad_accum": get("gradient_accumulation_steps"),
            "epochs": get("num_train_epochs"), "max_steps": get("max_steps"), "learning_rate": get("learning_rate"),
            "grad_ckpt": get("gradient_checkpointing"),
            "attn": "flash" if "flash" in attn else "eager" if attn == "eager" else "sdpa",
            "packing": get("packing"), "optimizer": _optimizer(get("optim")),
            # ModelConfig's dtype: weights loaded in float32 and trained with bf16=True are bf16 autocast over fp32
            "precision": _mixed_when(_precision(get("bf16"), get("fp16")),
                                     str(get("dtype", get("torch_dtype")) or "").lower() in ("float32", "fp32")),
            "kernels": "liger" if get("use_liger_kernel") else None,
        },
    }


def _method(adapter: bool, four_bit: bool, eight_bit: bool) -> tuple[str, str]:
    if not adapter:
        return "full", "none"
    if four_bit:
        return "qlora", "nf4"
    return "lora", "int8" if eight_bit else "none"


def _precision(bf16: Any, fp16: Any) -> str:
    if bf16 in (True, "auto", "true", "True"):
        return "bf16"
    return "fp16" if fp16 in (True, "true", "True") else "fp32"


def _mixed_when(precision: str, fp32_weights: bool) -> str:
    """bf16 compute over fp32 weights is ``bf16-mixed``."""
    return "bf16-mixed" if precision == "bf16" and fp32_weights else precision


def _optimizer(name: Any) -> str | None:
    if name is None:
        return None
    return OPTIMIZERS.get(str(name).lower(), "adamw")


def _sharding(fsdp: Any, deepspeed: Any) -> str | None:
    if fsdp:
        return "fsdp"
    # a DeepSpeed config path or name: zero3 / ds_z3_config.json / stage3 (LLaMA-Factory's and axolotl's names)
    text = str(deepspeed or "").lower()
    stage = re.search(r"(?:zero|z|stage)[_-]?([0-3])", text)
    if not stage:
        return None
    return "zero3" if stage.group(1) == "3" else "zero2"


def _required(value: Any, key: str) -> str:
    if not value:
        raise BadInput(f"the config names no model ({key})")
    return str(value)


def _drop_none(node: dict[str, Any]) -> None:
    """Unset keys take tuneplan's defaults: drop them (and sections left empty)."""
    for key in list(node):
        if isinstance(node[key], dict):
            _drop_none(node[key])
            if not node[key]:
                del node[key]
        elif node[key] is None:
            del node[key]


def import_note(tool: str, spec: dict[str, Any], ignored: list[str]) -> str:
    """One line for the plan's notes: what was read, the stack, and every key left aside."""
    stack = spec.get("training", {}).get("stack", "tuneplan")
    left = f"; ignored: {', '.join(ignored)}" if ignored else "; every key was read"
    article = "an" if tool[0] in "aeiou" else "a"
    return f"read as {article} {tool} config (the {stack} stack){left}"
