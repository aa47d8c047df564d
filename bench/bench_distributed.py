"""Distributed runs on this CPU (issue 14): wall time of the same tiny job on 1 process and on 2 (DDP, FSDP2),
and what each rank really holds of weights, gradients and optimizer state against the planner's per-GPU
estimate for that engine.

The time part runs ``templates/sft.py`` (a 2-layer Llama, LoRA, 24 steps) through the same launcher builder the
providers use. The memory part starts 2 ranks with torchrun over gloo, builds a tiny Llama (4 layers,
hidden 256) in fp32, trains one full fine-tuning step with AdamW under DDP or ``fully_shard`` (FSDP2), and
counts on each rank the bytes of its local parameter shards, gradients and optimizer state, and the peak of live
tensor bytes of the second step with the planner's own tracker (``providers/meta_trace/tracker.py``) inside
each rank; the planner's estimate for the same config, gpus=2 and that sharding is the comparison (its
``StaticMemory`` terms and its tensor peak, ``MemoryEstimate.tensors``). The step here computes the plain
cross-entropy over the full logits, while the estimate assumes TRL's tiled loss (what the templates run).

    .venv/bin/python bench/bench_distributed.py            # prints a table, writes bench/results/distributed.csv
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "templates"))
RESULTS = ROOT / "bench" / "results" / "distributed.csv"
CONFIG = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
          "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 2048, "max_position_embeddings": 256,
          "tie_word_embeddings": False}
SCRIPT = r'''
import json, os, sys
import torch, torch.distributed as dist
from transformers import LlamaConfig, LlamaForCausalLM
sys.path.insert(0, sys.argv[3])
from providers.meta_trace.tracker import PeakTracker
sharding, config = sys.argv[1], json.loads(sys.argv[2])
dist.init_process_group("gloo")
torch.manual_seed(0)
model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in config.items() if k != "model_type"}))
if sharding == "fsdp":
    from torch.distributed.fsdp import fully_shard
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    engine = model
else:
    engine = torch.nn.parallel.DistributedDataParallel(model)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
ids = torch.randint(0, config["vocab_size"], (2, 64))
tracker = PeakTracker()  # the planner's tensor tracker (bench/trace_grid.py), here inside each rank
with tracker:
    tracker.track_model(model)
    tracker.track_tensors(ids)
    for step in range(2):  # the peak of the second step, as the trace grid measures it
        if step == 1:
            tracker.reset_peak()
        tracker.phase = "forward"
        loss = engine(input_ids=ids, labels=ids).loss
        tracker.phase = "backward"
        loss.backward()
        del loss
        tracker.phase = "optimizer"
        optimizer.step()
        if step == 0:
            optimizer.zero_grad(set_to_none=False)
local = lambda t: t.to_local() if hasattr(t, "to_local") else t
nbytes = lambda t: local(t).numel() * local(t).element_size()
held = {"peak_tensors": tracker.peak_bytes, "weights": sum(nbytes(p) for p in model.parameters()),
        "gradients": sum(nbytes(p.grad) for p in model.parameters() if p.grad is not None),
        "optimizer": sum(nbytes(v) for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim())}
gathered = [None] * dist.get_world_size()
dist.all_gather_object(gathered, held)
if dist.get_rank() == 0:
    print("HELD " + json.dumps(gathered))
dist.destroy_process_group()
'''


def run_template(processes: int, sharding: str, work: Path) -> dict:
    """Wall time and the template's own throughput for the tiny SFT LoRA job on ``processes`` CPU processes."""
    from template_helpers import build_tiny_llama, chat_rows, job_file, run_distributed
    from template_helpers import run_template as single

    llama = work / "llama"
    if not llama.exists():
        build_tiny_llama(llama)
        (work / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chat_rows()))
    name = f"{processes}-{sharding}"
    config = job_file(work / name / "job.json", task="sft", model=str(llama), method="lora", output_dir="out",
                      data={"train": str(work / "chat.jsonl"), "format": "chat"},
                      training={"seq_len": 64, "micro_batch_size": 4, "grad_accum": 1, "max_steps": 24,
                                "logging_steps": 4, "save_steps": 1000, "learning_rate": 5e-3, "warmup_ratio": 0.0,
                                "precision": "bf16", "grad_ckpt": False},
                      distributed={"nodes": 1, "gpus_per_node": processes, "sharding": sharding})
    home = work / "home"
    home.mkdir(exist_ok=True)
    out = work / name / "out"
    if processes == 1:
        result = single("sft", ["--config", str(config)], home, out)
    else:
        result = run_distributed("sft", ["--config", str(config)], home, out, per_node=processes, sharding=sharding)
    assert result.code == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall_s": round(result.wall_s, 2), "train_runtime_s": round(metrics["train"]["train_runtime"], 2),
            "tokens_per_s": metrics["tokens_per_s"], "epoch": metrics["train"]["epoch"]}


def held_per_rank(sharding: str) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(SCRIPT)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           f.name, sharding, json.dumps(CONFIG), str(ROOT)], capture_output=True, text=True, env=env,
                          timeout=600)
    os.unlink(f.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("HELD ")), None)
    assert line, done.stderr[-3000:]
    return json.loads(line[5:])


def estimated(sharding: str) -> dict:
    from planner.arch.from_config import architecture_from_config
    from planner.estimate.memory import estimate_memory
    from planner.estimate.setup import TrainingSetup

    setup = TrainingSetup(method="full", precision="fp32", gpus=2, sharding=sharding, seq_len=64, micro_batch=2,
                          grad_ckpt=False).validated()
    memory = estimate_memory(architecture_from_config(CONFIG), setup)
    static = memory.static
    return {"peak_tensors": memory.tensors, "weights": static.weights, "gradients": static.gradients,
            "optimizer": static.optimizer}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for processes, sharding in ((1, "none"), (2, "ddp"), (2, "fsdp")):
            started = time.monotonic()
            got = run_template(processes, sharding, work)
            rows.append({"measure": "time", "engine": sharding, "processes": processes, **got})
            print(f"sft LoRA 24 steps, {processes} process(es) {sharding}: {got} ({time.monotonic() - started:.1f} s)")
    for sharding in ("ddp", "fsdp"):
        held, estimate = held_per_rank(sharding), estimated(sharding)
        for rank, terms in enumerate(held):
            for term, measured in terms.items():
                error = (estimate[term] - measured) / measured * 100 if measured else 0.0
                rows.append({"measure": "memory", "engine": sharding, "processes": 2, "rank": rank, "term": term,
                             "measured_bytes": measured, "estimated_bytes": int(estimate[term]),
                             "error_pct": round(error, 2)})
                print(f"{sharding} rank {rank} {term:10s} measured {measured / 2**20:8.3f} MiB  estimated "
                      f"{estimate[term] / 2**20:8.3f} MiB  error {error:+.2f} %")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    fields = ["measure", "engine", "processes", "wall_s", "train_runtime_s", "tokens_per_s", "epoch", "rank", "term",
              "measured_bytes", "estimated_bytes", "error_pct"]
    with RESULTS.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
