"""Sequence classification on a BERT-style encoder with transformers' Trainer: full or LoRA.

Usage:
    uv run classify.py --config job.json
    python classify.py --model google-bert/bert-base-uncased --method full --output-dir out \
        --set data.train=train.csv --set data.eval=eval.csv --epochs 3

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (csv/jsonl/json/parquet, or hub:org/name[:split]): `text` and `label` (any strings or
numbers). The label set is the train set's; an eval label outside it is an error. Without data.eval, 10 % of
the train rows are held out. Names are kept in the model config (id2label, label2id), also for LoRA, whose
output dir holds the adapter (with the new classifier head) plus that config; outputs.merge_adapter also
writes merged/, a plain model.

Reported: eval accuracy and macro-F1. Long texts are truncated to training.seq_len (a note says how many).
Precision: bf16/fp16 only where the device has it (CUDA), else fp32.

Output dir: model or adapter, tokenizer, metrics.json, resolved_config.json, checkpoints/ (for resuming:
rerun with the same dir; not in the manifest), and manifest.json, written last. Exit codes: 0 done, 2 bad
input, 3 --require-resume without a checkpoint, 1 anything else. Imports nothing from tuneplan: copy it
anywhere.
"""

from __future__ import annotations

from pathlib import Path

TASK = "classify"
METHODS = ("full", "lora")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"text-label": ("text", "label")}
LIMITS = {"training.kernels": ("none",), "training.attn": ("sdpa", "eager"), "quantization": ("none",)}


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here


from templates.source.hold_out import *  # noqa: F403 - `make templates` puts source/hold_out.py here


def load_data(cfg: dict) -> tuple[list[dict], list[dict], list[str]]:
    """Rows, the eval split and the label set (the train labels, sorted), all before any ML import."""
    train = read_rows(cfg["data.train"], "data.train")
    require_columns(train, FORMATS["text-label"], "data.train")
    if cfg["data.eval"]:
        evals = read_rows(cfg["data.eval"], "data.eval")
        require_columns(evals, FORMATS["text-label"], "data.eval")
    else:
        train, evals = hold_out(train, cfg["training.seed"])
        seen = {str(r["label"]) for r in train}  # a label held out entirely would look unknown: keep it
        train += [r for r in evals if str(r["label"]) not in seen]
        evals = [r for r in evals if str(r["label"]) in seen]
        if not evals:
            raise BadInput("data.train: too few rows per label to hold any out for evaluation: add data.eval")
    labels = sorted({str(r["label"]) for r in train})
    unknown = sorted({str(r["label"]) for r in evals} - set(labels))
    if unknown:
        raise BadInput(f"data.eval: label '{unknown[0]}' is not in the train labels ({', '.join(labels)})")
    if len(labels) < 2:
        raise BadInput(f"data.train: need at least 2 distinct labels, found {labels}")
    return train, evals, labels


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    lengths = [len(tokenizer(str(r["text"]))["input_ids"]) for r in data[0][:256]]
    return {"train_rows": len(data[0]), "eval_rows": len(data[1]), "labels": data[2],
            **length_report(lengths, cfg["training.seq_len"], fatal=False)}


def scores(eval_pred) -> dict:
    """Accuracy and macro-F1 (the mean of per-label F1, so rare labels count as much as common ones)."""
    import numpy as np

    logits, truth = eval_pred
    pred = np.asarray(logits).argmax(-1)
    f1 = [2 * np.sum((pred == c) & (truth == c)) / max(np.sum(pred == c) + np.sum(truth == c), 1)
          for c in np.unique(np.concatenate([truth, pred]))]
    return {"accuracy": float(np.mean(pred == truth)), "macro_f1": float(np.mean(f1))}


def label_names(labels: list[str]) -> dict:
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)}}


def load_model(cfg: dict, torch, device: str, bf16: bool, labels: list[str]):
    """A fresh classification head named with the labels; LoRA also trains that head (modules_to_save)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        cfg["model"], **label_names(labels), dtype=weights_dtype(torch, cfg, bf16, False),
        attn_implementation=attn_implementation(cfg, device))
    if cfg["method"] == "lora":
        model = get_peft_model(model, LoraConfig(**lora_kwargs(cfg), task_type="SEQ_CLS"))
    return model


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    label_ids = {name: i for i, name in enumerate(data[2])}
    train_set, eval_set = (Dataset.from_dict({
        **tokenizer([str(r["text"]) for r in rows], truncation=True, max_length=cfg["training.seq_len"]),
        "labels": [label_ids[str(r["label"])] for r in rows]}) for rows in data[:2])
    model, progress = load_model(cfg, torch, device, bf16, data[2]), progress_callback()
    args = TrainingArguments(**trainer_kwargs(cfg, out, device, bf16, fp16, True))
    engine_ready(args, device, cfg)
    trainer = Trainer(
        model=model, args=args,
        train_dataset=train_set, eval_dataset=eval_set, processing_class=tokenizer, compute_metrics=scores,
        data_collator=DataCollatorWithPadding(tokenizer), callbacks=[progress],
    )
    result = train_and_eval(trainer, progress, resume, True)
    save_final(trainer, out)
    if cfg["method"] == "lora" and rank() == 0:
        model.config.save_pretrained(out)  # the adapter alone would lose the label names
        if cfg["outputs.merge_adapter"]:
            from transformers import AutoModelForSequenceClassification

            result["merge"] = save_merged(
                cfg, out, tokenizer, AutoModelForSequenceClassification, [str(r["text"]) for r in data[0][:4]], torch,
                weights_dtype(torch, cfg, bf16, False), **label_names(data[2]))
    finish(cfg, out, result, torch, device, started)


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:
    """``--evaluate``: accuracy and macro-F1 on the eval split of the model training started from (the base with a
    fresh, seeded head: chance level) and of the fine-tuned one; the first rows side by side."""
    import numpy as np
    from transformers import AutoModelForSequenceClassification

    device, bf16, _ = device_plan(torch, cfg["training.precision"])
    labels, rows = data[2], data[1][:EVAL_ROWS]
    torch.manual_seed(cfg["training.seed"])
    base = load_model(cfg, torch, device, bf16, labels)
    tuned = load_tuned(AutoModelForSequenceClassification, cfg, artifacts, **label_names(labels))
    truth = np.array([labels.index(str(r["label"])) for r in rows])

    def logits_of(model):
        model = model.to(device).eval()
        found = []
        for start in range(0, len(rows), 32):
            batch = tokenizer([str(r["text"]) for r in rows[start:start + 32]], truncation=True, padding=True,
                              max_length=cfg["training.seq_len"], return_tensors="pt").to(device)
            with torch.no_grad():
                found.append(model(**batch).logits.float().cpu().numpy())
        return np.concatenate(found)

    before, after = logits_of(base), logits_of(tuned)
    examples = [{"prompt": str(row["text"]), "expected": str(row["label"]), "base": labels[int(before[i].argmax())],
                 "tuned": labels[int(after[i].argmax())]} for i, row in enumerate(rows[: args.eval_limit])]
    source = "eval split" if cfg["data.eval"] else "held-out train rows (the split training kept aside)"
    return {"device": device, "source": source, "rows": len(rows), "examples": examples,
            "metrics": {"base": scores((before, truth)), "tuned": scores((after, truth))}}


if __name__ == "__main__":
    run(main)
