"""Token classification (named entities) on a BERT-style encoder with transformers' Trainer: full or LoRA.

Usage:
    uv run ner.py --config job.json
    python ner.py --model google-bert/bert-base-cased --method full --output-dir out \
        --set data.train=train.jsonl --set data.eval=eval.jsonl --epochs 3

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (jsonl/json/parquet, or hub:org/name[:split]): `tokens` (a list of words) and `tags` (one
BIO tag per word: `O`, `B-PER`, `I-PER`, …). The tag set is the train set's; an eval tag outside it is an error.
Without data.eval, 10 % of the train rows are held out. Words are split into the tokenizer's sub-words; the first
sub-word of each word carries its tag and the rest are ignored by the loss (-100), as the Hugging Face token
classification recipe does. A fast tokenizer is required (it maps sub-words back to words).

Reported: entity precision, recall and F1 (an entity counts when its type and its exact span are right, the
CoNLL rule seqeval applies) and token accuracy, before training and after. Precision: bf16/fp16 only where the
device has it (CUDA), else fp32.

Output dir: model or adapter (with the new head) plus its config (id2label), tokenizer, metrics.json,
resolved_config.json, checkpoints/ (for resuming: rerun with the same dir; not in the manifest), and
manifest.json, written last. Exit codes: 0 done, 2 bad input, 3 --require-resume without a checkpoint, 1 anything
else. Imports nothing from tuneplan: copy it anywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

TASK = "ner"
METHODS = ("full", "lora")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"tokens-tags": ("tokens", "tags")}
LIMITS = {"training.kernels": ("none",), "training.attn": ("sdpa", "eager"), "quantization": ("none",)}
BIO = re.compile(r"O|[BI]-[^\s]{1,60}")
IGNORED_LABEL = -100


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here


from templates.source.hold_out import *  # noqa: F403 - `make templates` puts source/hold_out.py here


def checked_rows(rows: list[dict], what: str) -> list[dict]:
    """Each row's words and tags as lists of strings of the same length, every tag in BIO form."""
    require_columns(rows, FORMATS["tokens-tags"], what)
    for number, row in enumerate(rows, 1):
        tokens, tags = row["tokens"], row["tags"]
        if not (isinstance(tokens, list) and isinstance(tags, list)) or not tokens:
            raise BadInput(f"{what}: row {number}: 'tokens' and 'tags' must be non-empty lists")
        if len(tokens) != len(tags):
            raise BadInput(f"{what}: row {number}: {len(tokens)} tokens but {len(tags)} tags")
        bad = next((str(t) for t in tags if not BIO.fullmatch(str(t))), None)
        if bad is not None:
            raise BadInput(f"{what}: row {number}: tag {bad[:40]!r} is not BIO (O, B-TYPE or I-TYPE)")
    return [{"tokens": [str(t) for t in r["tokens"]], "tags": [str(t) for t in r["tags"]]} for r in rows]


def load_data(cfg: dict) -> tuple[list[dict], list[dict], list[str]]:
    """Rows, the eval split and the tag set ("O" first, then the train tags sorted), before any ML import."""
    train = checked_rows(read_rows(cfg["data.train"], "data.train"), "data.train")
    if cfg["data.eval"]:
        evals = checked_rows(read_rows(cfg["data.eval"], "data.eval"), "data.eval")
    else:
        train, evals = hold_out(train, cfg["training.seed"])
    seen = {tag for row in train for tag in row["tags"]}
    labels = ["O", *sorted(seen - {"O"})]
    unknown = sorted({tag for row in evals for tag in row["tags"]} - set(labels))
    if unknown:
        raise BadInput(f"data.eval: tag '{unknown[0]}' is not in the train tags ({', '.join(labels)})")
    if len(labels) < 2:
        raise BadInput("data.train: every tag is O; need at least one entity (B-TYPE) to learn")
    return train, evals, labels


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    if not getattr(tokenizer, "is_fast", False):
        raise BadInput(f"model {cfg['model']}: token classification needs a fast tokenizer (tokenizer.json) to map "
                       "sub-words back to words")
    encoded = tokenizer([r["tokens"] for r in data[0][:256]], is_split_into_words=True)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    return {"train_rows": len(data[0]), "eval_rows": len(data[1]), "labels": data[2],
            **length_report(lengths, cfg["training.seq_len"], fatal=False)}


def aligned(tokenizer, rows: list[dict], labels: list[str], seq_len: int) -> dict:
    """Sub-word inputs with one label per sub-word: the word's tag on its first sub-word, -100 elsewhere."""
    ids = {name: i for i, name in enumerate(labels)}
    encoded = tokenizer([r["tokens"] for r in rows], is_split_into_words=True, truncation=True, max_length=seq_len)
    encoded["labels"] = []
    for index, row in enumerate(rows):
        previous, per_token = None, []
        for word in encoded.word_ids(index):
            per_token.append(IGNORED_LABEL if word is None or word == previous else ids[row["tags"][word]])
            previous = word
        encoded["labels"].append(per_token)
    return encoded


def entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """(type, start, end) spans of a BIO sequence; an I- that does not continue its type starts a new entity."""
    found, kind, start = set(), None, 0
    for position, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and tag[2:] == kind
        if kind is not None and not inside:
            found.add((kind, start, position))
            kind = None
        if tag.startswith("B-") or (tag.startswith("I-") and not inside):
            kind, start = tag[2:], position
    return found


def entity_scores(truth: list[list[str]], predicted: list[list[str]]) -> dict:
    """Micro precision, recall and F1 over exact entity spans, and token accuracy."""
    hits = gold = guessed = right = total = 0
    for want, got in zip(truth, predicted, strict=True):
        expected, found = entities(want), entities(got)
        hits, gold, guessed = hits + len(expected & found), gold + len(expected), guessed + len(found)
        right, total = right + sum(a == b for a, b in zip(want, got, strict=True)), total + len(want)
    precision, recall = hits / guessed if guessed else 0.0, hits / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "token_accuracy": right / total if total else 0.0}


def word_tags(logits, label_rows, labels: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    """(true tags, predicted tags) per row, read at the sub-words that carry a label."""
    import numpy as np

    best = np.asarray(logits).argmax(-1)
    truth, predicted = [], []
    for guess_row, label_row in zip(best, label_rows, strict=True):
        keep = [i for i, label in enumerate(label_row) if label != IGNORED_LABEL]
        truth.append([labels[int(label_row[i])] for i in keep])
        predicted.append([labels[int(guess_row[i])] for i in keep])
    return truth, predicted


def tag_names(labels: list[str]) -> dict:
    """The head's size and its names, kept in the model config (id2label) so the tags come back with it."""
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)}}


def load_model(cfg: dict, torch, device: str, bf16: bool, labels: list[str]):
    """A fresh token-classification head named with the tags; LoRA also trains that head (modules_to_save)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(
        cfg["model"], **tag_names(labels), dtype=weights_dtype(torch, cfg, bf16, False),
        attn_implementation=attn_implementation(cfg, device))
    if cfg["method"] == "lora":
        # PEFT's all-linear leaves a sequence classifier's head alone but not a token classifier's: the head is
        # trained whole (modules_to_save), so it must not also get an adapter
        model = get_peft_model(model, LoraConfig(**lora_kwargs(cfg), task_type="TOKEN_CLS", exclude_modules=["classifier"],
                                                 modules_to_save=["classifier"]))
    return model


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    from datasets import Dataset
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    labels = data[2]
    train_set, eval_set = (Dataset.from_dict(dict(aligned(tokenizer, rows, labels, cfg["training.seq_len"])))
                           for rows in data[:2])

    def scores(eval_pred) -> dict:
        return entity_scores(*word_tags(eval_pred.predictions, eval_pred.label_ids, labels))

    model, progress = load_model(cfg, torch, device, bf16, labels), progress_callback()
    args = TrainingArguments(**trainer_kwargs(cfg, out, device, bf16, fp16, True))
    engine_ready(args, device, cfg)
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                      processing_class=tokenizer, compute_metrics=scores, callbacks=[progress],
                      data_collator=DataCollatorForTokenClassification(tokenizer))
    before = trainer.evaluate() if resume is None else None
    result = train_and_eval(trainer, progress, resume, True)
    if before is not None:
        result["eval"] = {**result.get("eval", {}), "before": {k: v for k, v in before.items() if k.startswith("eval_")}}
    save_final(trainer, out)
    if cfg["method"] == "lora" and rank() == 0:
        model.config.save_pretrained(out)  # the adapter alone would lose the tag names
        if cfg["outputs.merge_adapter"]:
            from transformers import AutoModelForTokenClassification

            texts = [" ".join(r["tokens"]) for r in data[0][:MERGE_CHECK_INPUTS]]
            result["merge"] = save_merged(cfg, out, tokenizer, AutoModelForTokenClassification, texts, torch,
                                          weights_dtype(torch, cfg, bf16, False), **tag_names(labels))
    finish(cfg, out, result, torch, device, started)


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:
    """``--evaluate``: entity F1 on the eval split of the model training started from (a fresh, seeded head) and
    of the fine-tuned one; the first rows' entities side by side."""
    from transformers import AutoModelForTokenClassification

    device, bf16, _ = device_plan(torch, cfg["training.precision"])
    labels, rows = data[2], data[1][:EVAL_ROWS]
    torch.manual_seed(cfg["training.seed"])
    base = load_model(cfg, torch, device, bf16, labels)
    tuned = load_tuned(AutoModelForTokenClassification, cfg, artifacts, **tag_names(labels))
    encoded = aligned(tokenizer, rows, labels, cfg["training.seq_len"])

    def tags_of(model) -> tuple[list[list[str]], list[list[str]]]:
        model = model.to(device).eval()
        truth, predicted = [], []
        for start in range(0, len(rows), 32):
            batch = tokenizer.pad({"input_ids": encoded["input_ids"][start:start + 32],
                                   "attention_mask": encoded["attention_mask"][start:start + 32]},
                                  return_tensors="pt").to(device)
            with torch.no_grad():
                logits = model(**batch).logits.float().cpu().numpy()
            part = word_tags(logits, encoded["labels"][start:start + 32], labels)
            truth, predicted = truth + part[0], predicted + part[1]
        return truth, predicted

    (truth, before), (_, after) = tags_of(base), tags_of(tuned)

    def spans(row: dict, tags: list[str]) -> str:
        return ", ".join(f"{' '.join(row['tokens'][a:b])} ({kind})" for kind, a, b in sorted(entities(tags),
                                                                                             key=lambda e: e[1]))

    examples = [{"prompt": " ".join(row["tokens"]), "expected": spans(row, truth[i]) or "(no entity)",
                 "base": spans(row, before[i]) or "(no entity)", "tuned": spans(row, after[i]) or "(no entity)"}
                for i, row in enumerate(rows[: args.eval_limit])]
    source = "eval split" if cfg["data.eval"] else "held-out train rows (the split training kept aside)"
    return {"device": device, "source": source, "rows": len(rows), "examples": examples,
            "metrics": {"base": entity_scores(truth, before), "tuned": entity_scores(truth, after)}}


if __name__ == "__main__":
    run(main)
