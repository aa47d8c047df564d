"""Measure real peak GPU memory and tokens/s of Hugging Face training steps on an NVIDIA GPU.

The prepared script for a session that has a GPU (issue: planner engine, "whenever you can run on an
NVIDIA GPU"): random-initialised models at real sizes (no downloads), the same code path as the
templates (transformers + PEFT, bf16 autocast, fused AdamW, bitsandbytes NF4 for QLoRA), a few warm-up
steps then timed steps; it writes one CSV row per setup with `torch.cuda.max_memory_reserved/allocated`,
what nvidia-smi shows for the process, tokens/s, and the planner's own estimate beside them, so the CUDA
overhead and efficiency constants can be calibrated from the file.

Usage (on the GPU machine):
    python bench/gpu_measure.py --out $OUT/gpu_measurements.csv            # the grid, ~8 min on an H100
    python bench/gpu_measure.py --quick --out /tmp/g.csv                    # two rows
Here (no GPU) `--device cpu --tiny` runs the same code on a tiny model to check the script itself.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.arch import architecture_from_config  # noqa: E402
from planner.catalog.models import catalog_models  # noqa: E402
from planner.estimate.memory import estimate_memory  # noqa: E402
from planner.estimate.setup import TrainingSetup  # noqa: E402

GIB = 2**30
TINY = {"model_type": "llama", "hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 2048}
# (catalog id, method, seq_len, micro_batch, grad_ckpt): sized to finish within one device call.
GRID = [
    ("meta-llama/Llama-3.2-1B", "lora", 2048, 1, False),
    ("meta-llama/Llama-3.2-1B", "qlora", 2048, 1, False),
    ("meta-llama/Llama-3.2-1B", "full", 2048, 1, False),
    ("meta-llama/Llama-3.2-1B", "lora", 512, 1, False),
    ("meta-llama/Llama-3.2-1B", "lora", 2048, 4, True),
    ("Qwen/Qwen2.5-7B-Instruct", "lora", 2048, 1, True),
    ("Qwen/Qwen2.5-7B-Instruct", "qlora", 2048, 1, True),
    ("meta-llama/Llama-3.1-8B", "qlora", 1024, 2, True),
]
QUICK = GRID[:2]


def build(config: dict, method: str, device: str):
    """A random-initialised model as the sft template would build it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    hf_config = AutoConfig.for_model(**config)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if method == "qlora":
        # bitsandbytes quantizes on load: save the random model once, then load it in 4-bit.
        tmp = Path("/tmp/tuneplan-gpu-measure") / str(abs(hash(str(sorted(config.items())))))
        if not (tmp / "config.json").exists():
            AutoModelForCausalLM.from_config(hf_config, dtype=dtype).save_pretrained(tmp)
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=dtype)
        model = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=quant, dtype=dtype,
                                                     device_map={"": device})
    else:
        model = AutoModelForCausalLM.from_config(hf_config, dtype=dtype, attn_implementation="sdpa").to(device)
    if method in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
    return model


def measure(config: dict, method: str, seq: int, batch: int, ckpt: bool, device: str, steps: int) -> dict:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build(config, method, device)
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if method in ("lora", "qlora"):
            model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, fused=device == "cuda")
    ids = torch.randint(0, config["vocab_size"], (batch, seq), device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")
    timings = []
    for step in range(steps + 3):
        start = time.perf_counter()
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= 3:
            timings.append(time.perf_counter() - start)
    row = {"tokens_per_s": round(batch * seq * len(timings) / sum(timings), 1)}
    if device == "cuda":
        row.update(peak_allocated_gib=round(torch.cuda.max_memory_allocated() / GIB, 3),
                   peak_reserved_gib=round(torch.cuda.max_memory_reserved() / GIB, 3),
                   nvidia_smi_gib=_smi_used_gib(), gpu=torch.cuda.get_device_name())
    del model, optimizer
    return row


def _smi_used_gib() -> float | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, check=True, timeout=20).stdout
        return round(float(out.split()[0]) / 1024, 3)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def planner_estimate(config: dict, method: str, seq: int, batch: int, ckpt: bool) -> dict:
    setup = TrainingSetup(method=method, quant="nf4" if method == "qlora" else "none", seq_len=seq,
                          micro_batch=batch, grad_ckpt=ckpt, packing=True, fused_lm_head=False).validated()
    estimate = estimate_memory(architecture_from_config(config), setup)
    return {"est_tensors_gib": round(estimate.tensors / GIB, 3), "est_allocated_gib": round(estimate.allocated / GIB, 3),
            "est_reserved_gib": round(estimate.reserved / GIB, 3), "est_nvidia_smi_gib": round(estimate.nvidia_smi / GIB, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench/results/gpu_measurements.csv"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="a tiny model (to check the script on a CPU)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    rows = []
    grid = [(None, m, 256, 2, c) for m, c in (("lora", False), ("full", True))] if args.tiny else (QUICK if args.quick else GRID)
    for model_id, method, seq, batch, ckpt in grid:
        config = TINY if model_id is None else dict(catalog_models()[model_id].config)
        started = time.perf_counter()
        try:
            measured = measure(config, method, seq, batch, ckpt, args.device, args.steps)
            error = ""
        except Exception as exc:  # one failed setup (e.g. out of memory) must not lose the others
            measured, error = {}, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        row = {"model": model_id or "tiny-llama", "method": method, "seq_len": seq, "micro_batch": batch,
               "grad_ckpt": ckpt, **measured, **planner_estimate(config, method, seq, batch, ckpt),
               "seconds": round(time.perf_counter() - started, 1), "error": error}
        rows.append(row)
        print(row, flush=True)
    fields = sorted({key for row in rows for key in row}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
