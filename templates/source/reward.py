"""A reward model for RLHF with TRL's RewardTrainer: a sequence-classification head with one output, trained on
preference pairs so that the chosen answer scores above the rejected one; LoRA or full.

Usage:
    uv run reward.py --config job.json
    python reward.py --model Qwen/Qwen2.5-0.5B-Instruct --method lora --output-dir out \
        --set data.train=prefs.jsonl --max-steps 200

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (jsonl/json/csv/parquet, or hub:org/name[:split]): `prompt`, `chosen`, `rejected`, each
a string or a list of chat messages. Without data.eval, 10 % of the pairs are held out.

Reported: pair accuracy (how often the chosen answer scores higher) and the mean margin on the held-out pairs,
before training and after. The head is new (seeded); with LoRA it trains whole (modules_to_save) and the adapter
dir keeps the model config. Precision: bf16/fp16 only where the device has it (CUDA), else fp32.

Output dir: model or adapter, tokenizer, metrics.json, resolved_config.json, checkpoints/ (for resuming:
rerun with the same dir; not in the manifest), and manifest.json, written last. Exit codes: 0 done, 2 bad
input, 3 --require-resume without a checkpoint, 1 anything else. Imports nothing from tuneplan: copy it
anywhere.
"""

from __future__ import annotations

from pathlib import Path

TASK = "reward"
METHODS = ("lora", "full")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"preference": ("prompt", "chosen", "rejected")}
LIMITS = {"training.kernels": ("none",), "quantization": ("none",)}  # narrower than the JobSpec


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here
from templates.source.preference import *  # noqa: F403 - `make templates` puts source/preference.py here
from templates.source.hold_out import *  # noqa: F403 - `make templates` puts source/hold_out.py here


def load_data(cfg: dict) -> tuple[list[dict], list[dict]]:
    """The pairs and the held-out pairs (data.eval, else a seeded 10 % of the train pairs)."""
    train, evals = read_preferences(cfg)
    if evals is None:
        train, evals = hold_out(train, cfg["training.seed"])
    return train, evals


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    if isinstance(data[0][0]["prompt"], list) and not tokenizer.chat_template:
        raise BadInput("chat-message preference data needs a tokenizer with a chat template")
    lengths = [pair_length(r, tokenizer) for r in data[0][:256]]
    return {"train_rows": len(data[0]), "eval_rows": len(data[1]),
            **length_report(lengths, cfg["training.seq_len"], fatal=True)}


def load_model(cfg: dict, torch, device: str, bf16: bool, tokenizer):
    """One output, the reward; a tokenizer without a pad token pads with its end-of-sequence token (the head
    reads the last real token of each sequence, found through the pad id)."""
    from transformers import AutoModelForSequenceClassification

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg["model"], num_labels=1, dtype=weights_dtype(torch, cfg, bf16, False),
        attn_implementation=attn_implementation(cfg, device))
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def pair_scores(model, tokenizer, rows: list[dict], cfg: dict, torch, device: str) -> list[tuple[float, float]]:
    """(chosen reward, rejected reward) of each pair."""
    model = model.to(device).eval()
    found = []
    for row in rows:
        batch = tokenizer(list(pair_texts(row, tokenizer)), return_tensors="pt", padding=True, truncation=True,
                          max_length=cfg["training.seq_len"]).to(device)
        with torch.no_grad():
            chosen, rejected = model(**batch).logits.float().squeeze(-1).tolist()
        found.append((chosen, rejected))
    return found


def pair_accuracy(scores: list[tuple[float, float]]) -> dict:
    return {"accuracy": sum(c > r for c, r in scores) / len(scores) if scores else 0.0,
            "margin": sum(c - r for c, r in scores) / len(scores) if scores else 0.0}


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import RewardConfig, RewardTrainer

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    model = load_model(cfg, torch, device, bf16, tokenizer)
    before = pair_accuracy(pair_scores(model, tokenizer, data[1][:EVAL_ROWS], cfg, torch, device))
    reward_args = RewardConfig(**trainer_kwargs(cfg, out, device, bf16, fp16, True), max_length=cfg["training.seq_len"])
    lora = LoraConfig(**lora_kwargs(cfg), task_type="SEQ_CLS") if cfg["method"] == "lora" else None
    progress = progress_callback()
    engine_ready(reward_args, device, cfg)
    trainer = RewardTrainer(model=model, args=reward_args, processing_class=tokenizer, callbacks=[progress],
                            peft_config=lora, train_dataset=Dataset.from_list(data[0]),
                            eval_dataset=Dataset.from_list(data[1]))
    result = train_and_eval(trainer, progress, resume, True)
    after = pair_accuracy(pair_scores(trainer.model, tokenizer, data[1][:EVAL_ROWS], cfg, torch, device))
    result["eval"] = {**result.get("eval", {}), "pair_accuracy": after["accuracy"], "pair_margin": after["margin"],
                      "before": {"pair_accuracy": before["accuracy"], "pair_margin": before["margin"]}}
    save_final(trainer, out)
    if cfg["method"] == "lora" and rank() == 0:
        trainer.model.config.save_pretrained(out)  # one output and the pad id: what the adapter needs to load
        if cfg["outputs.merge_adapter"]:
            from transformers import AutoModelForSequenceClassification

            texts = [pair_texts(r, tokenizer)[0] for r in data[0][:MERGE_CHECK_INPUTS]]
            result["merge"] = save_merged(cfg, out, tokenizer, AutoModelForSequenceClassification, texts, torch,
                                          weights_dtype(torch, cfg, bf16, False), num_labels=1,
                                          pad_token_id=tokenizer.pad_token_id)
    finish(cfg, out, result, torch, device, started)


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:
    """``--evaluate``: pair accuracy of the model training started from (a fresh, seeded head) and of the trained
    one on the held-out pairs; the first pairs' rewards side by side."""
    from transformers import AutoModelForSequenceClassification

    device, bf16, _ = device_plan(torch, cfg["training.precision"])
    rows = data[1][:EVAL_ROWS]
    torch.manual_seed(cfg["training.seed"])
    base = load_model(cfg, torch, device, bf16, tokenizer)
    tuned = load_tuned(AutoModelForSequenceClassification, cfg, artifacts, num_labels=1,
                       pad_token_id=tokenizer.pad_token_id)
    before, after = (pair_scores(m, tokenizer, rows, cfg, torch, device) for m in (base, tuned))

    def said(score: tuple[float, float]) -> str:
        return f"chosen {score[0]:+.3f} vs rejected {score[1]:+.3f} ({'right' if score[0] > score[1] else 'wrong'})"

    examples = [{"prompt": str(row["prompt"]), "expected": f"{str(row['chosen'])!r} over {str(row['rejected'])!r}",
                 "base": said(before[i]), "tuned": said(after[i])} for i, row in enumerate(rows[: args.eval_limit])]
    source = "eval split" if cfg["data.eval"] else "held-out train pairs (the split training kept aside)"
    return {"device": device, "source": source, "rows": len(rows), "examples": examples,
            "metrics": {"base": pair_accuracy(before), "tuned": pair_accuracy(after)}}


if __name__ == "__main__":
    run(main)
