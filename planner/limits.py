"""What no run can do with a given model, refused before anything is estimated; what is merely unusual, noted.

An estimate for an impossible job is worse than none: ``--seq-len 1000000`` on an 8B model produced a
confident 849 GiB, and BERT at 2,048 tokens (its position table holds 512) a plan that fails at the first
batch. Each refusal is one line naming the limit and where it comes from (BadInput, exit code 2).
"""

from __future__ import annotations

from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.models import ResolvedModel

GENERATIVE_TASKS = ("sft", "dpo", "grpo")

# Past these a setting is legal but rare enough to be a typo more often than a plan (noted, not refused).
UNUSUAL = {"lora_r": 512, "micro_batch": 512, "grad_accum": 4096}


def check_model_job(model: ResolvedModel, setup: TrainingSetup) -> tuple[str, ...]:
    """Refuse (BadInput) a job this model cannot run; return notes on settings that are only unusual."""
    arch = model.arch
    if arch.positions_known and setup.seq_len > arch.max_positions:
        raise BadInput(f"{model.model_id} reads at most {arch.max_positions:,} tokens per sequence "
                       f"(max_position_embeddings in its config); --seq-len {setup.seq_len:,} is beyond it")
    if setup.task in GENERATIVE_TASKS and not arch.is_causal:
        raise BadInput(f"{model.model_id} is an encoder ({arch.model_type}, no next-token head): task "
                       f"{setup.task} needs a causal LM; an encoder trains with --task classify or --task embed")
    notes = []
    if not arch.positions_known:
        notes.append(f"the config names no position limit: --seq-len {setup.seq_len:,} is not checked against one")
    if setup.method in ("lora", "qlora") and setup.lora_r > UNUSUAL["lora_r"]:
        notes.append(f"LoRA rank {setup.lora_r} is unusually high (most runs use 8-128)")
    if setup.micro_batch > UNUSUAL["micro_batch"]:
        notes.append(f"a micro-batch of {setup.micro_batch} is unusual; memory grows with it")
    if setup.grad_accum > UNUSUAL["grad_accum"]:
        notes.append(f"{setup.grad_accum} gradient-accumulation steps is unusual: one optimizer step takes that "
                     "many micro-batches")
    return tuple(notes)
