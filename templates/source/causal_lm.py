"""Loading a causal language model to train (sft, grpo): its weights in the dtype the precision asks for, and
QLoRA's or int8's quantized base with its unquantized weights left in that dtype (never upcast to fp32, which is
what tuneplan's memory planner assumes).

``make templates`` copies the lines between the markers into the templates that name this part.
"""

from __future__ import annotations

from templates.source.common import *  # noqa: F403 - the common part comes first in every template
from templates.source.ml_common import *  # noqa: F403 - and the training part


# >>> causal-lm
def quantization_config(cfg: dict, dtype):
    """QLoRA: NF4 with double quantization, computing in `dtype`. LoRA + `quantization: int8`: 8-bit base."""
    from transformers import BitsAndBytesConfig

    quant, method = cfg["quantization"], cfg["method"]
    if method in ("full", "spectrum") and quant != "none":
        raise BadInput(f"method {method} trains the weights themselves; set quantization: none")
    quant = "nf4" if method == "qlora" and quant == "none" else quant
    if quant in ("none", "gptq4"):
        return None  # a GPTQ checkpoint carries its own quantization config
    if quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    # Sharded (FSDP/ZeRO-3): the packed 4-bit weights are stored in the compute dtype (same bytes), so the
    # engine can flatten and shard them with the rest, as PEFT and bitsandbytes document.
    storage = {"bnb_4bit_quant_storage": dtype} if sharded(cfg) else {}
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype, **storage)


def load_model(cfg: dict, torch, device: str, bf16: bool, fp16: bool):
    """Weights in the dtype ``weights_dtype`` picks; quantized bases keep their unquantized weights in that
    dtype too (no fp32 upcast) and dequantize to the compute dtype."""
    from transformers import AutoModelForCausalLM

    dtype = weights_dtype(torch, cfg, bf16, fp16)
    compute = torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32
    kwargs = {"dtype": dtype, "attn_implementation": attn_implementation(cfg, device),
              "quantization_config": quantization_config(cfg, compute)}
    if kwargs["quantization_config"] is not None and not sharded(cfg):  # sharded: the engine places the shards
        kwargs["device_map"] = {"": torch.cuda.current_device() if device == "cuda" else device}
    return AutoModelForCausalLM.from_pretrained(cfg["model"], **kwargs), dtype
# <<< causal-lm
