"""A cross-encoder reranker with sentence-transformers' CrossEncoderTrainer: a query and a passage read together,
one relevance score out, trained with binary cross-entropy on labelled pairs (the hard negatives are the pairs
labelled 0). Full fine-tuning.

Usage:
    uv run rerank.py --config job.json
    python rerank.py --model answerdotai/ModernBERT-base --output-dir out \
        --set data.train=pairs.jsonl --set data.eval=eval.jsonl --epochs 1

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (jsonl/json/csv/parquet, or hub:org/name[:split]): `query`, `passage`, `label` (1 relevant,
0 not; a score in [0, 1] also works). Without data.eval, a seeded 10 % of the queries (all their passages) is
held out, so evaluation reranks queries the model never saw.

Reported: MRR@10, NDCG@10 and MAP of reranking each held-out query's passages, before training and after.
Precision: bf16/fp16 only where the device has it (CUDA), else fp32.

Output dir: the model (CrossEncoder format), metrics.json, resolved_config.json, checkpoints/ (for resuming:
rerun with the same dir; not in the manifest), and manifest.json, written last. Exit codes: 0 done, 2 bad
input, 3 --require-resume without a checkpoint, 1 anything else. Imports nothing from tuneplan: copy it
anywhere.
"""

from __future__ import annotations

import random
from pathlib import Path

TASK = "rerank"
METHODS = ("full",)
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"query-passage": ("query", "passage", "label")}
LIMITS = {"training.kernels": ("none",), "training.attn": ("sdpa", "eager"), "quantization": ("none",)}
RERANK_KEYS = ("mrr@10", "ndcg@10", "map")


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here


def checked_pairs(rows: list[dict], what: str) -> list[dict]:
    require_columns(rows, FORMATS["query-passage"], what)
    for number, row in enumerate(rows, 1):
        label = row["label"]
        if isinstance(label, bool) or not isinstance(label, int | float) or not 0 <= label <= 1:
            raise BadInput(f"{what}: row {number}: 'label' must be 1 (relevant), 0 (not) or a score in [0, 1]")
    return [{"query": str(r["query"]), "passage": str(r["passage"]), "label": float(r["label"])} for r in rows]


def load_data(cfg: dict) -> tuple[list[dict], list[dict]]:
    """The pairs, and the held-out pairs: data.eval, else every pair of a seeded 10 % of the queries."""
    train = checked_pairs(read_rows(cfg["data.train"], "data.train"), "data.train")
    if cfg["data.eval"]:
        evals = checked_pairs(read_rows(cfg["data.eval"], "data.eval"), "data.eval")
    else:
        queries = sorted({r["query"] for r in train})
        if len(queries) < 2:
            raise BadInput("data.train: need at least 2 queries to hold some out for evaluation (or give data.eval)")
        kept = set(random.Random(cfg["training.seed"]).sample(queries, max(len(queries) // 10, 1)))
        log(f"note: no data.eval; holding out {len(kept)} of {len(queries)} queries for evaluation")
        train, evals = [r for r in train if r["query"] not in kept], [r for r in train if r["query"] in kept]
    if not any(r["label"] >= 0.5 for r in evals):
        raise BadInput("the eval pairs hold no relevant passage (label 1): nothing to rerank toward")
    return train, evals


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    lengths = [len(tokenizer(r["query"], r["passage"])["input_ids"]) for r in data[0][:256]]
    return {"train_rows": len(data[0]), "eval_rows": len(data[1]),
            **length_report(lengths, cfg["training.seq_len"], fatal=False)}


def reranking(rows: list[dict]):
    """Each eval query with its relevant passages and all its passages, as the reranking evaluator reads them."""
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    samples: dict[str, dict] = {}
    for row in rows:
        sample = samples.setdefault(row["query"], {"query": row["query"], "positive": [], "documents": []})
        sample["documents"].append(row["passage"])
        if row["label"] >= 0.5:
            sample["positive"].append(row["passage"])
    usable = [s for s in samples.values() if s["positive"]]
    return CrossEncoderRerankingEvaluator(usable, at_k=10, name="rerank", write_csv=False, show_progress_bar=False)


def rerank_scores(evaluator, model) -> dict:
    """The model's scores (the evaluator also scores the passages' given order as ``*_base_*``: left out)."""
    return {key: float(value) for key, value in evaluator(model).items()
            if any(key.endswith("_" + wanted) for wanted in RERANK_KEYS) and "_base_" not in key}


def load_model(cfg: dict, torch, device: str, bf16: bool):
    from sentence_transformers import CrossEncoder

    torch.manual_seed(cfg["training.seed"])  # the new scoring head starts the same on every run
    return CrossEncoder(cfg["model"], num_labels=1, max_length=cfg["training.seq_len"], device=device,
                        model_kwargs={"dtype": weights_dtype(torch, cfg, bf16, False),
                                      "attn_implementation": attn_implementation(cfg, device)})


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    model, evaluator = load_model(cfg, torch, device, bf16), reranking(data[1])
    before = rerank_scores(evaluator, model)
    kwargs = {**trainer_kwargs(cfg, out, device, bf16, fp16, False), "include_num_input_tokens_seen": "no"}
    tokens = [0]
    progress = progress_callback(lambda state: tokens[0])
    args = CrossEncoderTrainingArguments(**kwargs)
    engine_ready(args, device, cfg)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=Dataset.from_list(data[0]),
                                  loss=BinaryCrossEntropyLoss(model), callbacks=[progress])

    class CountingCollator(type(trainer.data_collator)):  # the trainer's own collator; the loss tokenizes the
        def __call__(self, features: list[dict]) -> dict:  # texts later, so the pairs are counted here
            batch = super().__call__(features)
            counted = tokenizer([f["query"] for f in features], [f["passage"] for f in features], truncation=True,
                                max_length=cfg["training.seq_len"])
            tokens[0] += sum(len(ids) for ids in counted["input_ids"])
            return batch

    trainer.data_collator.__class__ = CountingCollator
    result = train_and_eval(trainer, progress, resume, False)
    result["eval"] = {**rerank_scores(evaluator, model), "before": before}
    save_final(trainer, out)
    finish(cfg, out, result, torch, device, started)


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:
    """``--evaluate``: reranking of the held-out queries by the model training started from and the trained one;
    each of the first queries with the passage each model puts first."""
    from sentence_transformers import CrossEncoder

    device, bf16, _ = device_plan(torch, cfg["training.precision"])
    rows = data[1][:EVAL_ROWS]
    evaluator = reranking(rows)
    base, tuned = load_model(cfg, torch, device, bf16), CrossEncoder(str(artifacts), device=device)
    examples = []
    for sample in evaluator.samples[: args.eval_limit]:
        top = {name: model.rank(sample["query"], sample["documents"], top_k=1)[0]["corpus_id"]
               for name, model in (("base", base), ("tuned", tuned))}
        examples.append({"prompt": sample["query"], "expected": " | ".join(sample["positive"]),
                         "base": sample["documents"][top["base"]], "tuned": sample["documents"][top["tuned"]]})
    source = "eval split" if cfg["data.eval"] else "held-out queries (the split training kept aside)"
    return {"device": device, "source": source, "rows": len(rows), "examples": examples,
            "metrics": {"base": rerank_scores(evaluator, base), "tuned": rerank_scores(evaluator, tuned)}}


if __name__ == "__main__":
    run(main)
