"""Preference tuning (DPO) of a causal language model with TRL's DPOTrainer: LoRA or full.

Usage:
    uv run dpo.py --config job.json
    python dpo.py --model Qwen/Qwen2.5-0.5B-Instruct --method lora --output-dir out \
        --set data.train=prefs.jsonl --set training.learning_rate=5e-6 --max-steps 200

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (jsonl/json/csv/parquet, or hub:org/name[:split]): `prompt`, `chosen`, `rejected`, each
a string or a list of chat messages (then the tokenizer's chat template applies).

LoRA needs no reference copy: the base with the adapter switched off is the reference. Full tuning keeps a
frozen reference model beside the policy (twice the weights in memory). With LoRA, outputs.merge_adapter also
writes merged/: the base with the adapter merged in. Precision: bf16/fp16 only where the device has it
(CUDA), else fp32; a bf16 run loads its weights in bf16.

Output dir: model or adapter, tokenizer, metrics.json, resolved_config.json, checkpoints/ (for resuming:
rerun with the same dir; not in the manifest), and manifest.json, written last. Exit codes: 0 done, 2 bad
input, 3 --require-resume without a checkpoint, 1 anything else. Imports nothing from tuneplan: copy it
anywhere.
"""

from __future__ import annotations

from pathlib import Path

TASK = "dpo"
METHODS = ("lora", "full")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"preference": ("prompt", "chosen", "rejected")}
LIMITS = {"training.kernels": ("none", "liger"), "quantization": ("none",)}  # narrower than the JobSpec


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here
from templates.source.generate import *  # noqa: F403 - `make templates` puts source/generate.py here
from templates.source.preference import *  # noqa: F403 - `make templates` puts source/preference.py here


def load_data(cfg: dict) -> tuple[list[dict], list[dict] | None]:
    """Read the rows and check their columns before any ML import."""
    return read_preferences(cfg)


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    if isinstance(data[0][0]["prompt"], list) and not tokenizer.chat_template:
        raise BadInput("chat-message preference data needs a tokenizer with a chat template")
    lengths = [pair_length(r, tokenizer) for r in data[0][:256]]
    return {"train_rows": len(data[0]), **length_report(lengths, cfg["training.seq_len"], fatal=True)}


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    """LoRA needs no reference copy (the base with the adapter off is the reference); full tuning lets TRL
    load a frozen reference model beside the policy."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    model = AutoModelForCausalLM.from_pretrained(
        cfg["model"], dtype=weights_dtype(torch, cfg, bf16, False),
        attn_implementation=attn_implementation(cfg, device))
    has_eval = data[1] is not None
    progress = progress_callback()
    kwargs = trainer_kwargs(cfg, out, device, bf16, fp16, has_eval)
    dpo_args = DPOConfig(**kwargs, max_length=cfg["training.seq_len"])
    lora = LoraConfig(**lora_kwargs(cfg), task_type="CAUSAL_LM") if cfg["method"] == "lora" else None
    engine_ready(dpo_args, device, cfg)
    trainer = DPOTrainer(
        model=model, args=dpo_args, processing_class=tokenizer, callbacks=[progress], peft_config=lora,
        train_dataset=Dataset.from_list(data[0]),
        eval_dataset=Dataset.from_list(data[1]) if has_eval else None,
    )
    result = train_and_eval(trainer, progress, resume, has_eval)
    save_final(trainer, out)
    if cfg["outputs.merge_adapter"] and cfg["method"] == "lora" and rank() == 0:
        texts = [pair_texts(r, tokenizer)[0] for r in data[0][:MERGE_CHECK_INPUTS]]
        result["merge"] = save_merged(cfg, out, tokenizer, AutoModelForCausalLM, texts, torch,
                                      weights_dtype(torch, cfg, bf16, False))
    finish(cfg, out, result, torch, device, started)


if __name__ == "__main__":
    run(main)
