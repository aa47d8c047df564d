"""Trace a grid of real-size training setups on the meta device and write one CSV row per setup.

The rows validate the planner's analytic memory/FLOP model against what the Hugging Face training
code actually allocates (tensor bytes; no CUDA context or allocator overhead). Architectures are
given below as config dicts (values from the models' config.json files; nothing is downloaded).

Usage:
    .venv/bin/python bench/trace_grid.py                       # full grid -> bench/results/trace_grid.csv
    .venv/bin/python bench/trace_grid.py --quick --out /tmp/quick.csv
    .venv/bin/python bench/trace_grid.py --only llama-3.1-8b   # rows of one model
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from providers.meta_trace import TraceResult, trace_training_step

_LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}


def _arch(model_type: str, hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int,
          vocab: int, tie: bool, **extra: object) -> dict:
    """A config.json dict from the numbers that matter, plus model-specific keys."""
    return {"model_type": model_type, "hidden_size": hidden, "intermediate_size": intermediate,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
            "vocab_size": vocab, "tie_word_embeddings": tie, **extra}


def _bert(hidden: int, intermediate: int, layers: int, heads: int) -> dict:
    return _arch("bert", hidden, intermediate, layers, heads, heads, 30522, True,
                 max_position_embeddings=512, type_vocab_size=2)


MODELS: dict[str, dict] = {
    "llama-3.2-1b": _arch("llama", 2048, 8192, 16, 32, 8, 128256, True, head_dim=64,
                          max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
                          rope_scaling={**_LLAMA3_ROPE, "factor": 32.0}),
    "llama-3.1-8b": _arch("llama", 4096, 14336, 32, 32, 8, 128256, False, head_dim=128,
                          max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
                          rope_scaling=_LLAMA3_ROPE),
    "qwen2.5-0.5b": _arch("qwen2", 896, 4864, 24, 14, 2, 151936, True, max_position_embeddings=32768,
                          rope_theta=1000000.0, rms_norm_eps=1e-6),
    "qwen2.5-7b": _arch("qwen2", 3584, 18944, 28, 28, 4, 152064, False, max_position_embeddings=131072,
                        rope_theta=1000000.0, rms_norm_eps=1e-6),
    "gemma-3-1b": _arch("gemma3_text", 1152, 6912, 26, 4, 1, 262144, True, head_dim=256,
                        max_position_embeddings=32768, query_pre_attn_scalar=256, sliding_window=512,
                        rope_theta=1000000.0, rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh"),
    "qwen3-30b-a3b": _arch("qwen3_moe", 2048, 6144, 48, 32, 4, 151936, False, head_dim=128,
                           moe_intermediate_size=768, num_experts=128, num_experts_per_tok=8,
                           norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[],
                           max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6),
    "mistral-7b-v0.3": _arch("mistral", 4096, 14336, 32, 32, 8, 32768, False, head_dim=128,
                             max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-5,
                             sliding_window=None),
    "phi-3-mini-4k": _arch("phi3", 3072, 8192, 32, 32, 32, 32064, False, max_position_embeddings=4096,
                           original_max_position_embeddings=4096, rope_theta=10000.0, rms_norm_eps=1e-5,
                           sliding_window=2047, pad_token_id=32000, bos_token_id=1, eos_token_id=32000),
    "bert-base": _bert(768, 3072, 12, 12),
    "bert-large": _bert(1024, 4096, 24, 16),
    "all-minilm-l6-v2": _bert(384, 1536, 6, 12),
    "tiny-llama": _arch("llama", 256, 688, 4, 8, 4, 32000, False),
}

CAUSAL = ("llama-3.2-1b", "llama-3.1-8b", "qwen2.5-0.5b", "qwen2.5-7b", "gemma-3-1b", "qwen3-30b-a3b",
          "mistral-7b-v0.3", "phi-3-mini-4k")
LORA_ALL = {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lora_targets": "all-linear"}
LORA_QV = {"method": "lora", "lora_r": 8, "lora_alpha": 16, "lora_targets": ("q_proj", "v_proj")}
SFT_METHODS = ({"method": "full"}, LORA_ALL, LORA_QV)
ARCH_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
             "head_dim", "intermediate_size", "vocab_size", "tie_word_embeddings", "num_experts",
             "num_experts_per_tok", "moe_intermediate_size")


def _lora_for(model: str, method: dict) -> dict:
    """Adapt a LoRA recipe to a model the way a user must for PEFT to accept it.

    PEFT refuses dropout on MoE expert weights (which all-linear targets), and Phi-3 has a fused
    ``qkv_proj`` instead of ``q_proj``/``v_proj``.
    """
    if model == "qwen3-30b-a3b" and method.get("lora_targets") == "all-linear":
        return {**method, "lora_dropout": 0.0}
    if model == "phi-3-mini-4k" and method.get("lora_targets") == LORA_QV["lora_targets"]:
        return {**method, "lora_targets": ("qkv_proj",)}
    return method


def sft_rows() -> Iterator[tuple[str, dict]]:
    """Every causal model x {full, LoRA all-linear r16, LoRA q,v r8} x seq x micro-batch x checkpointing."""
    for model in CAUSAL:
        for method in SFT_METHODS:
            for seq in (512, 2048, 4096):
                for mb in (1, 4):
                    for gc in (False, True):
                        yield model, {**_lora_for(model, method), "seq_len": seq, "micro_batch": mb,
                                      "grad_ckpt": gc}


def extra_rows() -> Iterator[tuple[str, dict]]:
    """Spectrum, optimizers, TRL's chunked LM head, no-autocast LoRA, fp32 and CPU twins of a tiny model."""
    for model in ("llama-3.1-8b", "qwen2.5-7b"):
        for seq in (512, 2048, 4096):
            for gc in (False, True):
                yield model, {"method": "spectrum", "spectrum_fraction": 0.25, "seq_len": seq,
                              "grad_ckpt": gc}
    for opt in ("adamw_foreach", "adamw_loop", "sgd", "adafactor"):
        for method in ({"method": "full"}, LORA_ALL):
            yield "llama-3.1-8b", {**method, "optimizer": opt, "seq_len": 2048}
    for model in ("llama-3.2-1b", "llama-3.1-8b", "qwen2.5-7b", "gemma-3-1b"):
        for method in ({"method": "full"}, LORA_ALL):
            for seq, gc in ((2048, False), (2048, True), (4096, True)):
                yield model, {**method, "lm_head": "chunked", "seq_len": seq, "grad_ckpt": gc}
    for model in ("llama-3.2-1b", "llama-3.1-8b"):
        for method in (LORA_ALL, {**LORA_ALL, "lora_dropout": 0.0}):
            for gc in (False, True):
                yield model, {**method, "amp": False, "seq_len": 2048, "grad_ckpt": gc}
    for method in ({"method": "full"}, LORA_ALL):
        for precision in ("fp32", "bf16"):
            for device in ("meta", "cpu"):
                for gc in (False, True):
                    yield "tiny-llama", {**method, "precision": precision, "device": device, "seq_len": 512,
                                         "micro_batch": 2, "grad_ckpt": gc}


def dpo_rows() -> Iterator[tuple[str, dict]]:
    """DPO (policy + reference on chosen+rejected) for two models, both LM-head styles."""
    for model in ("llama-3.2-1b", "llama-3.1-8b"):
        for method in ({"method": "full"}, LORA_ALL):
            for seq in (1024, 2048):
                for mb in (1, 2):
                    for gc in (False, True):
                        for head in ("full", "chunked"):
                            yield model, {**method, "task": "dpo", "seq_len": seq, "micro_batch": mb,
                                          "grad_ckpt": gc, "lm_head": head}


def encoder_rows() -> Iterator[tuple[str, dict]]:
    """BERT classification (fp32 and bf16) and all-MiniLM-L6-v2 embedding training (fp32)."""
    for model in ("bert-base", "bert-large"):
        for method in ({"method": "full"}, {**LORA_ALL, "lora_r": 8, "lora_alpha": 16}):
            for precision in ("fp32", "bf16"):
                for seq, mb in ((128, 32), (512, 8), (512, 32)):
                    for gc in (False, True):
                        yield model, {**method, "task": "classify", "num_labels": 2, "precision": precision,
                                      "seq_len": seq, "micro_batch": mb, "grad_ckpt": gc}
    for method in ({"method": "full"}, {**LORA_ALL, "lora_r": 8, "lora_alpha": 16}):
        for seq, mb in ((128, 32), (128, 128), (256, 64)):
            for gc in (False, True):
                yield "all-minilm-l6-v2", {**method, "task": "embed", "precision": "fp32", "seq_len": seq,
                                           "micro_batch": mb, "grad_ckpt": gc}


_TINY = {"method": "full", "precision": "fp32", "seq_len": 512, "micro_batch": 2}
QUICK = (
    ("tiny-llama", _TINY),
    ("tiny-llama", {**_TINY, "device": "cpu"}),
    ("llama-3.1-8b", {"method": "full", "seq_len": 2048}),
    ("llama-3.1-8b", {**LORA_ALL, "seq_len": 2048}),
    ("llama-3.1-8b", {**LORA_ALL, "seq_len": 2048, "grad_ckpt": True}),
    ("llama-3.2-1b", {**LORA_ALL, "task": "dpo", "seq_len": 1024}),
    ("bert-base", {"method": "full", "task": "classify", "precision": "fp32", "seq_len": 128,
                   "micro_batch": 32}),
    ("all-minilm-l6-v2", {"method": "full", "task": "embed", "precision": "fp32", "seq_len": 128,
                          "micro_batch": 32}),
)


def grid(quick: bool) -> list[tuple[str, dict]]:
    """All rows in a stable order (the CSV keeps it)."""
    if quick:
        return list(QUICK)
    return [*sft_rows(), *extra_rows(), *dpo_rows(), *encoder_rows()]


def arch_columns(name: str) -> dict:
    """The model's architecture as the planner's catalog names it (defaults resolved by transformers)."""
    from providers.meta_trace.build import make_config

    cfg = make_config(MODELS[name], "sft", 2)
    heads = cfg.num_attention_heads
    values = {key: getattr(cfg, key, None) for key in ARCH_KEYS}
    values["num_key_value_heads"] = values["num_key_value_heads"] or heads
    values["head_dim"] = values["head_dim"] or cfg.hidden_size // heads
    if "num_experts" not in MODELS[name]:
        values.update(num_experts=None, num_experts_per_tok=None, moe_intermediate_size=None)
    return {"model": name, **values}


def _settings(settings: dict) -> dict:
    """Blank the knobs that do not apply to the row's method (LoRA fields without LoRA, ...)."""
    out = dict(settings)
    if out.get("method", "full") != "lora":
        for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_targets"):
            out.pop(key, None)
    return out


def run_row(index: int, name: str, settings: dict) -> dict:
    """Trace one row; a failure becomes a row with its error instead of stopping the grid."""
    started = time.perf_counter()
    row = {"row": index, **arch_columns(name)}
    try:
        result: TraceResult = trace_training_step(MODELS[name], **_settings(settings))
        values = result.as_row()
        if values["method"] != "lora":
            values.update(lora_r="", lora_alpha="", lora_dropout="", lora_targets="")
        if values["method"] != "spectrum":
            values["spectrum_fraction"] = ""
        row.update(values, error="")
    except Exception as exc:  # noqa: BLE001 - recorded in the CSV, the grid goes on
        row.update({k: v for k, v in settings.items()}, error=f"{type(exc).__name__}: {exc}"[:300])
    row["wall_seconds"] = round(time.perf_counter() - started, 2)
    return row


def _worker(job: tuple[int, str, dict]) -> dict:
    import gc

    row = run_row(*job)
    gc.collect()
    return row


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    return columns


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: r["row"])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_columns(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)


def _progress(done: int, total: int, row: dict, started: float) -> None:
    what = f"{row['model']} {row.get('task', 'sft')} {row.get('method')} seq={row.get('seq_len')} " \
           f"mb={row.get('micro_batch', 1)} gc={row.get('grad_ckpt', False)}"
    result = row["error"] or f"peak {row['peak_gib']} GiB ({row['peak_phase']})"
    print(f"[{done}/{total}] {time.perf_counter() - started:7.1f}s  {what}: {result}  "
          f"({row['wall_seconds']}s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/trace_grid.csv"))
    parser.add_argument("--quick", action="store_true", help="a few rows only (about a minute)")
    parser.add_argument("--only", help="only rows of this model name")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    args = parser.parse_args(argv)
    jobs = [(i, name, settings) for i, (name, settings) in enumerate(grid(args.quick))
            if args.only in (None, name)]
    started, rows = time.perf_counter(), []
    print(f"tracing {len(jobs)} rows with {args.jobs} worker(s) -> {args.out}", flush=True)
    if args.jobs > 1:
        import multiprocessing

        # Workers are replaced every 25 rows to bound memory (transformers and PEFT keep caches).
        with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=25) as pool:
            for row in pool.imap(_worker, jobs):
                rows.append(row)
                _progress(len(rows), len(jobs), row, started)
    else:
        for job in jobs:
            rows.append(_worker(job))
            _progress(len(rows), len(jobs), rows[-1], started)
    write_csv(args.out, rows)
    failed = sum(1 for row in rows if row["error"])
    print(f"wrote {len(rows)} rows ({failed} failed) in {time.perf_counter() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
