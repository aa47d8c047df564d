"""Supervised fine-tuning of a causal language model with TRL's SFTTrainer: full, LoRA, QLoRA or Spectrum.

Usage:
    uv run sft.py --config job.json
    python sft.py --model Qwen/Qwen2.5-0.5B-Instruct --method lora --output-dir out \
        --set data.train=train.jsonl --set training.seq_len=1024 --max-steps 200

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (jsonl/json/csv/parquet, or hub:org/name[:split]): `messages` (chat; loss on the
assistant turns when the chat template has {% generation %} markers, else on everything, with a note),
`prompt`+`completion` (loss on the completion) or `text`.

Precision: bf16/fp16 only where the device has it (CUDA), else fp32; a bf16 run loads its weights in bf16,
a bf16-mixed run in fp32 (bf16 autocast over fp32 masters).
QLoRA loads the base in 4-bit NF4 with double quantization and compute dtype = precision, and leaves the
unquantized weights (embeddings, norms, lm_head) in that dtype: NOT upcast to fp32 as TRL's default path
would. tuneplan's memory planner assumes exactly this. Spectrum trains, per module type, the
spectrum.top_fraction of matrices with the highest random-matrix signal-to-noise ratio (embeddings and
lm_head frozen). outputs.merge_adapter also writes merged/: the adapter merged into an unquantized base.

Output dir: model or adapter, tokenizer, metrics.json, resolved_config.json, checkpoints/ (for resuming:
rerun with the same dir; not in the manifest), and manifest.json, written last. Exit codes: 0 done, 2 bad
input, 3 --require-resume without a checkpoint, 1 anything else. Imports nothing from tuneplan: copy it.
"""

from __future__ import annotations

import math
from pathlib import Path

TASK = "sft"
METHODS = ("lora", "full", "qlora", "spectrum")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"chat": ("messages",), "prompt-completion": ("prompt", "completion"), "text": ("text",)}
LIMITS = {"training.kernels": ("none", "liger")}  # narrower than the JobSpec allows


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here
from templates.source.generate import *  # noqa: F403 - `make templates` puts source/generate.py here
from templates.source.causal_lm import *  # noqa: F403 - `make templates` puts source/causal_lm.py here


def load_data(cfg: dict) -> tuple[list[dict], list[dict] | None]:
    """Read the rows and settle the format (given, or guessed from the columns) before any ML import."""
    train = read_rows(cfg["data.train"], "data.train")
    fits = [f for f, columns in FORMATS.items() if all(c in train[0] for c in columns)]
    fmt = cfg["data.format"] or (fits[0] if fits else None)
    if fmt is None:
        raise BadInput(f"data.train: columns {sorted(train[0])} fit no format; "
                       "need messages, prompt+completion, or text")
    cfg["data.format"] = fmt
    require_columns(train, FORMATS[fmt], "data.train")
    evals = read_rows(cfg["data.eval"], "data.eval") if cfg["data.eval"] else None
    if evals is not None:
        require_columns(evals, FORMATS[fmt], "data.eval")
    return train, evals


def render(row: dict, fmt: str, tokenizer) -> str:
    if fmt == "chat":
        return tokenizer.apply_chat_template(row["messages"], tokenize=False)
    if fmt == "text":
        return row["text"]
    if isinstance(row["prompt"], list):
        return tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    return row["prompt"] + row["completion"]


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    rows, fmt = data[0], cfg["data.format"]
    if not tokenizer.chat_template and (fmt == "chat" or isinstance(rows[0].get("prompt"), list)):
        raise BadInput("chat data needs a tokenizer with a chat template; else use prompt-completion or text")
    texts = [render(row, fmt, tokenizer) for row in rows[:256]]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return {"format": fmt, "train_rows": len(rows), **length_report(lengths, cfg["training.seq_len"], True)}


def assistant_mask_ok(tokenizer) -> bool:
    """Loss on assistant turns only needs {% generation %} markers, or a template TRL knows how to patch."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template):
        return True
    try:
        get_training_chat_template(tokenizer)
        return True
    except ValueError:
        log("note: the chat template has no {% generation %} markers; the loss covers the whole conversation")
        return False


def mp_snr(singular_values, rows: int, cols: int) -> float:
    """Signal-to-noise ratio of one weight matrix, from random-matrix theory.

    An m x n noise matrix (m >= n, entry std sigma) keeps every singular value below the Marchenko-Pastur edge
    sigma * (sqrt(m) + sqrt(n)); values above it are signal. Sigma comes from the bulk: the mean of s^2 is
    m * sigma^2 for noise, so start from all values, drop those above the edge, and repeat until stable.
    SNR = sum of the signal singular values / sum of the noise ones.
    """
    m, n = max(rows, cols), min(rows, cols)
    s = singular_values.double()
    noise = s
    while True:
        edge = math.sqrt(float(noise.square().mean()) / m) * (math.sqrt(m) + math.sqrt(n))
        kept = s[s <= edge]
        if len(kept) == len(noise):
            return float(s[s > edge].sum() / noise.sum().clamp_min(1e-12))
        noise = kept


def spectrum_select(weights: dict, top_fraction: float, device: str = "cpu") -> set[str]:
    """Names of the matrices to train: within each module type (q_proj, ..., down_proj), the top fraction by
    SNR. Ranking within a type keeps matrices of one shape and role comparable. The SVDs run on `device`,
    one matrix at a time (a 7B model's take minutes on a CPU, seconds on a GPU)."""
    import torch

    groups: dict[str, list[tuple[float, str]]] = {}
    for name, weight in weights.items():
        snr = mp_snr(torch.linalg.svdvals(weight.detach().to(device, torch.float32)).cpu(), *weight.shape)
        groups.setdefault(name.split(".")[-2], []).append((snr, name))
    chosen = set()
    for ranked in groups.values():
        ranked.sort(reverse=True)
        chosen.update(name for _, name in ranked[: max(1, math.ceil(top_fraction * len(ranked)))])
    return chosen


def apply_spectrum(model, top_fraction: float, device: str) -> None:
    """Train only the selected matrices. Embeddings and lm_head stay frozen: their vocab-sized spectra do not
    compare with the layers', and they would dominate optimizer memory."""
    heads = {id(model.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
    weights = {n: p for n, p in model.named_parameters() if p.ndim == 2 and id(p) not in heads}
    chosen = spectrum_select(weights, top_fraction, device)
    for name, param in model.named_parameters():
        param.requires_grad = name in chosen
    log(f"spectrum: training {len(chosen)} of {len(weights)} matrices")


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    model, dtype = load_model(cfg, torch, device, bf16, fp16)
    if cfg["method"] == "spectrum":
        apply_spectrum(model, cfg["spectrum.top_fraction"], device)
    fmt, has_eval = cfg["data.format"], data[1] is not None
    sft_args = SFTConfig(
        **trainer_kwargs(cfg, out, device, bf16, fp16, has_eval), max_length=cfg["training.seq_len"],
        packing=bool(cfg["training.packing"]), completion_only_loss=fmt == "prompt-completion" or None,
        assistant_only_loss=fmt == "chat" and assistant_mask_ok(tokenizer),
    )
    lora = LoraConfig(**lora_kwargs(cfg), task_type="CAUSAL_LM") if "lora" in cfg["method"] else None
    progress = progress_callback()
    engine_ready(sft_args, device, cfg)
    trainer = SFTTrainer(
        model=model, args=sft_args, processing_class=tokenizer, callbacks=[progress], peft_config=lora,
        train_dataset=Dataset.from_list(data[0]),
        eval_dataset=Dataset.from_list(data[1]) if has_eval else None,
    )
    result = train_and_eval(trainer, progress, resume, has_eval)
    save_final(trainer, out)
    if cfg["outputs.merge_adapter"] and "lora" in cfg["method"] and rank() == 0:
        from transformers import AutoModelForCausalLM

        texts = [render(row, fmt, tokenizer) for row in data[0][:MERGE_CHECK_INPUTS]]
        result["merge"] = save_merged(cfg, out, tokenizer, AutoModelForCausalLM, texts, torch, dtype)
    finish(cfg, out, result, torch, device, started)


if __name__ == "__main__":
    run(main)
