"""Build the model a training template would train, on the meta device or for real on the CPU.

It follows the templates' path: ``from_config`` with the dtype and attention implementation, PEFT
LoRA with its defaults (fp32 adapters on a bf16 base), "spectrum" as a fraction of each decoder
weight type left trainable, and gradient checkpointing the way the HF Trainer switches it on.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import torch

from providers.meta_trace.patches import register_attention

_LAYER_PARAM = re.compile(r"\.layers?\.(\d+)\.(.+)$")
_DROP_KEYS = ("architectures", "auto_map", "transformers_version", "_name_or_path", "torch_dtype", "dtype")
_PEFT_TASK = {"sft": "CAUSAL_LM", "dpo": "CAUSAL_LM", "grpo": "CAUSAL_LM", "classify": "SEQ_CLS", "embed": "FEATURE_EXTRACTION"}


def make_config(config: Any, task: str, num_labels: int) -> Any:
    """A transformers config from a config.json dict (or a config object), ready for training.

    Multimodal configs that keep the decoder under ``text_config`` (gemma3) give that decoder.
    ``use_cache`` is off, as every trainer sets it: a cache would keep all layers' k/v alive.
    """
    from transformers import AutoConfig, PretrainedConfig

    if isinstance(config, PretrainedConfig):
        cfg = copy.deepcopy(config)
    else:
        data = dict(config)
        text = data.get("text_config")
        if isinstance(text, dict) and "hidden_size" in text:
            data = dict(text)
            data["model_type"] = text.get("model_type") or f"{config.get('model_type')}_text"
        data = {k: v for k, v in data.items() if k not in _DROP_KEYS}
        cfg = AutoConfig.for_model(data.pop("model_type"), **data)
    cfg.use_cache = False
    if task == "classify":
        cfg.num_labels = num_labels
    return cfg


def check_supported(cfg: Any, precision: str) -> None:
    """Refuse what transformers itself cannot train this way, with the reason."""
    from planner.errors import BadInput

    if getattr(cfg, "num_experts", None) and precision != "bf16":
        raise BadInput("MoE experts run through torch's grouped_mm (transformers' default), which takes "
                       "bf16 only; trace precision='bf16'", title="cannot trace")


def build_base(cfg: Any, task: str, dtype: torch.dtype, device: str) -> torch.nn.Module:
    """Instantiate the model class the task uses, with the flash-style attention registered."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    factory = {
        "sft": AutoModelForCausalLM,
        "dpo": AutoModelForCausalLM,
        "grpo": AutoModelForCausalLM,
        "classify": AutoModelForSequenceClassification,
        "embed": AutoModel,
    }[task]
    with torch.device(device):
        model = factory.from_config(cfg, dtype=dtype, attn_implementation=register_attention())
    return model


def apply_lora(model: torch.nn.Module, task: str, r: int, alpha: int, dropout: float,
               targets: str | list[str], device: str) -> torch.nn.Module:
    """Wrap with PEFT LoRA using its defaults (``autocast_adapter_dtype=True``: fp32 adapters)."""
    from peft import LoraConfig, get_peft_model

    target = targets if isinstance(targets, str) else list(targets)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target,
                        task_type=_PEFT_TASK[task])
    try:
        with torch.device(device):
            return get_peft_model(model, config)
    except ValueError as exc:
        from planner.errors import BadInput

        raise BadInput(f"PEFT rejects this LoRA setup (a real run would fail too): {exc}") from exc


def apply_spectrum(model: torch.nn.Module, fraction: float) -> None:
    """Leave trainable the first ``ceil(fraction x layers)`` of each decoder weight type.

    Spectrum picks layers by signal-to-noise ratio; which ones does not matter for memory, only how
    many. Embeddings, norms and the LM head stay frozen.
    """
    groups: dict[str, list[tuple[int, torch.nn.Parameter]]] = {}
    for name, param in model.named_parameters():
        param.requires_grad_(False)
        match = _LAYER_PARAM.search(name)
        if match and param.ndim >= 2:
            groups.setdefault(match.group(2), []).append((int(match.group(1)), param))
    for members in groups.values():
        members.sort(key=lambda item: item[0])
        keep = max(1, math.ceil(fraction * len(members)))
        for _, param in members[:keep]:
            param.requires_grad_(True)


def enable_checkpointing(model: torch.nn.Module, peft: bool) -> None:
    """Non-reentrant checkpointing per layer, as ``TrainingArguments(gradient_checkpointing=True)``.

    ``context_fn`` only carries the autocast emulation into the recomputation; it changes nothing
    that is stored.
    """
    from providers.meta_trace.amp import checkpoint_contexts

    kwargs = {"use_reentrant": False, "context_fn": checkpoint_contexts}
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if peft:
        model.enable_input_require_grads()


def disable_dropout(model: torch.nn.Module) -> None:
    """TRL's DPO default (``disable_dropout=True``): every dropout probability set to zero."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def build_models(cfg: Any, *, task: str, method: str, dtype: torch.dtype, device: str, lora: dict,
                 spectrum_fraction: float, grad_ckpt: bool,
                 kl_coef: float = 0.0) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """The trained model, and for full-parameter DPO (or GRPO with a KL penalty) a frozen copy as the reference."""
    model = build_base(cfg, task, dtype, device)
    reference = None
    if (task == "dpo" or (task == "grpo" and kl_coef > 0)) and method != "lora":
        reference = build_base(cfg, task, dtype, device).eval().requires_grad_(False)
        disable_dropout(reference)
    if method == "lora":
        model = apply_lora(model, task, device=device, **lora)
    elif method == "spectrum":
        apply_spectrum(model, spectrum_fraction)
    if grad_ckpt:
        enable_checkpointing(model, peft=method == "lora")
    if task in ("dpo", "grpo"):  # TRL's default for both (disable_dropout=True)
        disable_dropout(model)
    model.train()
    return model, reference


def count_params(model: torch.nn.Module) -> tuple[int, int, int]:
    """(total, trainable, bytes) over unique parameters (tied weights once)."""
    total = trainable = nbytes = 0
    for param in model.parameters():
        total += param.numel()
        nbytes += param.numel() * param.element_size()
        if param.requires_grad:
            trainable += param.numel()
    return total, trainable, nbytes
