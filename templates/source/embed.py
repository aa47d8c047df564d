"""Sentence-embedding training with sentence-transformers, scored by retrieval before and after: full or LoRA.

Usage:
    uv run embed.py --config job.json
    python embed.py --model sentence-transformers/all-MiniLM-L6-v2 --output-dir out \
        --set data.train=pairs.jsonl --set data.eval=held_out.jsonl --epochs 1

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (jsonl/json/csv/parquet, or hub:org/name[:split]): `anchor`, `positive` (pairs) plus
`negative` (triplets), trained with MultipleNegativesRankingLoss (in-batch negatives, no duplicate texts in a
batch); or pairs with a `score` in [-1, 1], trained with CosineSimilarityLoss.

Evaluation: information retrieval on data.eval (else on 10 % of the train rows, held out): each anchor is a
query, the positives and negatives form the corpus, the anchor's positive (score >= 0.5 if scored) is
relevant. metrics.json `eval` holds the scores after training (ir_cosine_ndcg@10, mrr@10, accuracy@k, ...)
and under `before` the same scores of the untrained model. With LoRA, outputs.merge_adapter also writes merged/:
the whole model with the adapter merged in, checked against the adapter's embeddings. Precision: bf16/fp16 only
where the device has it (CUDA).

Output dir: the sentence-transformers model (or its adapter), metrics.json, resolved_config.json,
checkpoints/ (for resuming: rerun with the same dir; not in the manifest), and manifest.json, written last.
Exit codes: 0 done, 2 bad input, 3 --require-resume without a checkpoint, 1 anything else. Imports nothing
from tuneplan.
"""

from __future__ import annotations

from pathlib import Path

TASK = "embed"
METHODS = ("full", "lora")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"pairs": ("anchor", "positive"), "triplets": ("anchor", "positive", "negative")}
LIMITS = {"training.kernels": ("none",), "training.attn": ("sdpa", "eager"), "quantization": ("none",)}


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here


from templates.source.hold_out import *  # noqa: F403 - `make templates` puts source/hold_out.py here


def loss_rows(rows: list[dict], columns: tuple[str, ...], what: str) -> list[dict]:
    """Only the columns the loss reads, in the order it reads them (anchor, positive, negative | score)."""
    require_columns(rows, columns, what)
    for number, row in enumerate(rows, 1):
        if "score" in columns and not (isinstance(row["score"], int | float) and -1 <= row["score"] <= 1):
            raise BadInput(f"{what}: row {number}: 'score' must be a number in [-1, 1]")
    return [{c: r[c] if c == "score" else str(r[c]) for c in columns} for r in rows]


def load_data(cfg: dict) -> tuple[list[dict], list[dict], bool]:
    train = read_rows(cfg["data.train"], "data.train")
    fmt = cfg["data.format"] or ("triplets" if "negative" in train[0] else "pairs")
    scored = fmt == "pairs" and "score" in train[0]
    columns = FORMATS[fmt] + (("score",) if scored else ())
    train = loss_rows(train, columns, "data.train")
    if cfg["data.eval"]:
        evals = loss_rows(read_rows(cfg["data.eval"], "data.eval"), columns, "data.eval")
    else:
        train, evals = hold_out(train, cfg["training.seed"])
    return train, evals, scored


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    lengths = [len(tokenizer(r["anchor"])["input_ids"]) for r in data[0][:256]]
    return {"train_rows": len(data[0]), "eval_rows": len(data[1]), "scored": data[2],
            **length_report(lengths, cfg["training.seq_len"], fatal=False)}


def retrieval_evaluator(rows: list[dict]):
    """Anchors are queries; positives and negatives the corpus; an anchor's positive is its relevant doc."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    docs: dict[str, str] = {}
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for row in rows:
        ids = [docs.setdefault(row[c], f"d{len(docs)}") for c in ("positive", "negative") if c in row]
        query = queries.setdefault(row["anchor"], f"q{len(queries)}")
        if row.get("score", 1) >= 0.5:
            relevant.setdefault(query, set()).add(ids[0])
    if not relevant:
        raise BadInput("data.eval: no relevant pair (score >= 0.5) to evaluate retrieval with")
    return InformationRetrievalEvaluator({q: t for t, q in queries.items()}, {d: t for t, d in docs.items()},
                                         relevant, name="ir", write_csv=False, show_progress_bar=False)


def load_model(cfg: dict, torch, device: str, bf16: bool):
    from peft import LoraConfig
    from sentence_transformers import SentenceTransformer

    dtype, attn = weights_dtype(torch, cfg, bf16, False), attn_implementation(cfg, device)
    model = SentenceTransformer(cfg["model"], device=device,
                                model_kwargs={"dtype": dtype, "attn_implementation": attn})
    model.max_seq_length = cfg["training.seq_len"]
    if cfg["method"] == "lora":
        model.add_adapter(LoraConfig(**lora_kwargs(cfg), task_type="FEATURE_EXTRACTION"))
    return model


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    """MultipleNegativesRankingLoss (no duplicate texts in a batch, they would be false negatives), or
    CosineSimilarityLoss for scored pairs; the retrieval scores are taken before and after."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import losses

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    model, evaluator, scored = load_model(cfg, torch, device, bf16), retrieval_evaluator(data[1]), data[2]
    before = evaluator(model)
    kwargs = {**trainer_kwargs(cfg, out, device, bf16, fp16, False), "include_num_input_tokens_seen": "no"}
    tokens = [0]  # counted here: the Trainer cannot, the inputs are per column (anchor_input_ids, ...)
    progress = progress_callback(lambda state: tokens[0])
    args = SentenceTransformerTrainingArguments(
        **kwargs, batch_sampler=BatchSamplers.BATCH_SAMPLER if scored else BatchSamplers.NO_DUPLICATES)
    engine_ready(args, device, cfg)
    trainer = SentenceTransformerTrainer(
        model=model, train_dataset=Dataset.from_list(data[0]), callbacks=[progress], args=args,
        loss=losses.CosineSimilarityLoss(model) if scored else losses.MultipleNegativesRankingLoss(model),
    )

    class CountingCollator(type(trainer.data_collator)):  # the trainer's own collator, counting what it pads
        def __call__(self, features: list[dict]) -> dict:
            batch = super().__call__(features)
            tokens[0] += sum(int(v.sum()) for k, v in batch.items() if k.endswith("attention_mask"))
            return batch

    trainer.data_collator.__class__ = CountingCollator
    result = train_and_eval(trainer, progress, resume, False)
    result["eval"] = {**evaluator(model), "before": before}
    save_final(trainer, out)
    if cfg["outputs.merge_adapter"] and cfg["method"] == "lora" and rank() == 0:
        texts = [str(row["anchor"]) for row in data[0][:MERGE_CHECK_INPUTS]]
        result["merge"] = save_merged_embedder(out, model, texts, torch, device)
    finish(cfg, out, result, torch, device, started)


def save_merged_embedder(out: Path, model, texts: list[str], torch, device: str) -> dict:
    """outputs.merge_adapter for embeddings. sentence-transformers attaches LoRA through transformers' own PEFT
    integration (the layers are injected into the encoder; there is no PeftModel to merge_and_unload, and its saved
    adapter keys do not load into one), so each injected layer is merged into its base weight in place and swapped
    for it; the encoder is then an ordinary one, saved whole in merged/, read back from disk, and its embeddings
    compared with the adapter's on a few training texts. Call it last: the trained model is changed in place."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from sentence_transformers import SentenceTransformer

    with torch.no_grad():
        expected = model.encode(texts, convert_to_tensor=True).float().cpu()
    encoder = model[0].auto_model
    for parent in list(encoder.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BaseTunerLayer):
                child.merge()
                setattr(parent, name, child.get_base_layer())
    encoder._hf_peft_config_loaded = False
    encoder.__dict__.pop("peft_config", None)
    model.save(str(out / "merged"))
    reloaded = SentenceTransformer(str(out / "merged"), device=device)
    with torch.no_grad():
        got = reloaded.encode(texts, convert_to_tensor=True).float().cpu()
    diff = float((expected - got).abs().max())
    cosine = float(torch.nn.functional.cosine_similarity(expected, got, dim=-1).min())
    tolerance = 1e-3 * max(1.0, float(expected.abs().max()))
    verdict = {"inputs": len(texts), "max_abs_embedding_diff": diff, "min_cosine": cosine, "tolerance": tolerance,
               "ok": diff <= tolerance}
    write_json(out / "merged" / "merge.json", verdict)
    if not verdict["ok"]:
        log(f"warning: the merged model's embeddings differ from the adapter's by {diff:.3g}; use the adapter")
    return verdict


RETRIEVAL_KEYS = ("accuracy@1", "mrr@10", "ndcg@10")


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:
    """``--evaluate``: retrieval on the eval split (anchors as queries) by the base model and the fine-tuned one."""
    from sentence_transformers import SentenceTransformer

    device, bf16, _ = device_plan(torch, cfg["training.precision"])
    rows = data[1][:EVAL_ROWS]
    evaluator = retrieval_evaluator(rows)
    found = {}
    for name, where in (("base", cfg["model"]), ("tuned", str(artifacts))):
        model = SentenceTransformer(where, device=device)
        model.max_seq_length = cfg["training.seq_len"]
        scores_of = evaluator(model)
        found[name] = {key: float(value) for key, value in scores_of.items()
                       if any(key.endswith("cosine_" + wanted) for wanted in RETRIEVAL_KEYS)}
    source = "eval split" if cfg["data.eval"] else "held-out train rows (the split training kept aside)"
    return {"device": device, "source": source, "rows": len(rows), "examples": [], "metrics": found}


if __name__ == "__main__":
    run(main)
