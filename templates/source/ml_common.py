"""What every training template shares: reading rows (local files or the Hub) with one-line errors, the
tokenizer and length report, the main flow (validate, load, check, train, finish), the device and precision
choice, LoRA and trainer settings, the progress/ETA callback and the metrics (what is done with the outputs
afterwards, merging, pointing adapters at their base and the Hub push, is the ``outputs`` part).

``make templates`` copies the lines between the ``# >>> ml-common`` and ``# <<< ml-common`` markers into the
training templates (``templates/build.py``), after the common part; the lines above them only make this an
ordinary module for its tests.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import time
from pathlib import Path

from templates.source.common import *  # noqa: F403 - the common part comes first in every template
from templates.source.tracking import *  # noqa: F403 - every training template includes it beside this part
from templates.source.outputs import *  # noqa: F403 - every training template includes it beside this part


# Each training template defines these itself (its data and its trainer); here they only say so.
def load_data(cfg: dict):
    raise NotImplementedError("each training template defines load_data")


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    raise NotImplementedError("each training template defines check_data")


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume, started: float, torch) -> None:
    raise NotImplementedError("each training template defines train")


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:
    raise NotImplementedError("each training template defines evaluate")


# >>> ml-common
def read_rows(spec: str, what: str) -> list[dict]:
    """Rows of a local jsonl/json/csv/parquet file or of hub:org/name[:split], with one-line errors."""
    path, suffix = Path(spec), Path(spec).suffix.lower()
    try:
        if spec.startswith("hub:"):
            name, _, split = spec[4:].partition(":")
            rows = __import__("datasets").load_dataset(name, split=split or "train").to_list()
        elif suffix in (".jsonl", ".ndjson"):
            rows = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    rows += [json.loads(line)] if line.strip() else []
                except ValueError as e:
                    raise ValueError(f"line {number}: {e}") from e
        elif suffix in (".json", ".csv"):
            with path.open(encoding="utf-8", newline="") as f:
                rows = json.load(f) if suffix == ".json" else list(csv.DictReader(f))
        elif suffix == ".parquet":
            rows = __import__("pyarrow.parquet").parquet.read_table(path).to_pylist()
        else:
            raise BadInput(f"{what}: unsupported file type '{suffix}' (use jsonl, json, csv or parquet)")
    except (OSError, ValueError) as e:
        raise BadInput(f"{what}: cannot read {spec}: {' '.join(str(e).split())[:200]}") from e
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise BadInput(f"{what}: {spec} must hold at least one row, each an object with named columns")
    return rows


def require_columns(rows: list[dict], columns: tuple[str, ...], what: str) -> None:
    for number, row in enumerate(rows, 1):
        missing = [c for c in columns if row.get(c) in (None, "", [])]
        if missing:
            raise BadInput(f"{what}: row {number} has no '{missing[0]}' (needs: {', '.join(columns)})")


def world() -> dict:
    """Where this process stands in a torchrun job (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    ``LOCAL_WORLD_SIZE``): one process alone is rank 0 of a world of 1 on 1 node."""
    size = int(os.environ.get("WORLD_SIZE") or 1)
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE") or size)
    return {"rank": rank(), "local_rank": int(os.environ.get("LOCAL_RANK") or 0), "world_size": size,
            "nodes": max(1, size // max(per_node, 1))}


def check_packages(cfg: dict) -> None:
    """Optional accelerations fail before any download, in one line, when their package is missing."""
    for key, value, module, package in (("training.kernels", "liger", "liger_kernel", "liger-kernel"),
                                        ("training.attn", "flash", "flash_attn", "flash-attn"),
                                        ("distributed.sharding", "zero2", "deepspeed", "deepspeed"),
                                        ("distributed.sharding", "zero3", "deepspeed", "deepspeed")):
        if cfg[key] == value and importlib.util.find_spec(module) is None:
            raise BadInput(f"{key} '{value}' needs the {package} package (pip install {package})")


def load_tokenizer(cfg: dict):
    """Tokenizer and config only (no weights). A model that cannot be found, or a seq_len beyond what it
    allows, is an input error."""
    from transformers import AutoConfig, AutoTokenizer

    quiet_libraries()
    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
        config = AutoConfig.from_pretrained(cfg["model"])
    except (OSError, ValueError) as e:
        reason = str(e).splitlines()[0]
        raise BadInput(f"model {cfg['model']}: cannot load its tokenizer/config: {reason}") from e
    limit, seq_len = getattr(config, "max_position_embeddings", None), cfg["training.seq_len"]
    if limit and seq_len > limit:
        raise BadInput(f"training.seq_len {seq_len} exceeds the model's max_position_embeddings {limit}")
    return tokenizer


def length_report(lengths: list[int], seq_len: int, fatal: bool) -> dict:
    """Token lengths of sampled examples. When truncation would cut away what is learned (a response), every
    example being too long is an error; otherwise a note says how many get truncated."""
    shortest, longest = min(lengths), max(lengths)
    if fatal and shortest > seq_len:
        raise BadInput(f"every example is longer than training.seq_len={seq_len} (shortest: {shortest})")
    if longest > seq_len:
        log(f"note: {sum(n > seq_len for n in lengths)} of {len(lengths)} sampled examples will be truncated")
    return {"sampled": len(lengths), "mean_tokens": round(sum(lengths) / len(lengths), 1),
            "max_tokens": longest}


EVAL_FLAGS = (
    ("--evaluate", {"type": Path, "metavar": "ARTIFACTS",
                    "help": "train nothing: compare the base model with the fine-tuned one in ARTIFACTS"}),
    ("--eval-out", {"type": Path, "help": "with --evaluate: write the comparison (JSON) here"}),
    ("--eval-prompts", {"help": "with --evaluate: rows to use instead of the eval split (the task's data format)"}),
    ("--eval-limit", {"type": int, "default": 5, "help": "with --evaluate: examples shown side by side"}),
    ("--max-new-tokens", {"type": int, "default": 128, "help": "with --evaluate: the longest generated answer"}),
)
EVAL_ROWS = 2000  # the task metrics read at most this many eval rows: a comparison, not a benchmark


def main(argv: list[str]) -> None:
    """The same flow for every training template; load_data, check_data, train and evaluate are the task's own.
    Everything that can be refused without ML imports is refused first."""
    started, args = time.monotonic(), parse_args(argv, EVAL_FLAGS)
    if args.evaluate is not None:
        if args.eval_prompts:
            args.set.append(f"data.eval={json.dumps(str(Path(args.eval_prompts).resolve()))}")
        if not 1 <= args.eval_limit <= 100 or not 1 <= args.max_new_tokens <= 4096:
            raise BadInput("--eval-limit must be 1-100 and --max-new-tokens 1-4096")
    cfg = resolve_config(args)
    validate_config(cfg)
    data = load_data(cfg)
    out = Path(cfg["output_dir"])
    resume = None if args.validate_only or args.evaluate else find_resume(out, args.require_resume)
    check_packages(cfg)
    import torch

    tokenizer = load_tokenizer(cfg)
    summary = check_data(cfg, tokenizer, data)
    if args.validate_only:
        print(f"validate-only: ok {json.dumps(summary)}", flush=True)
        return
    if args.evaluate is not None:
        if not args.evaluate.is_dir():
            raise BadInput(f"--evaluate {args.evaluate}: no such folder of a run's outputs")
        result = {"task": TASK, "method": cfg["method"], "model": cfg["model"],
                  **evaluate(cfg, tokenizer, data, args.evaluate, torch, args),
                  "wall_s": round(time.monotonic() - started, 3)}
        write_json(args.eval_out or args.evaluate / "evaluation.json", result)
        return
    prepare_output(out)
    torch.manual_seed(cfg["training.seed"])  # a new head or LoRA adapter starts the same on every run
    train(cfg, out, tokenizer, data, resume, started, torch)


def device_plan(torch, precision: str) -> tuple[str, bool, bool]:
    """(device, bf16, fp16): CUDA, else Apple mps, else CPU; mixed precision only where the device has it."""
    mps = getattr(torch.backends, "mps", None)
    device = "mps" if mps is not None and mps.is_available() else "cpu"
    device = "cuda" if torch.cuda.is_available() else device
    if device == "cuda" and world()["world_size"] > 1:  # every rank on its own GPU, never all on GPU 0
        torch.cuda.set_device(world()["local_rank"])
    if device == "cuda" and precision.startswith("bf16") and torch.cuda.is_bf16_supported():
        return device, True, False
    if device == "cuda" and precision != "fp32":
        log("note: fp16 mixed precision" + (" (this GPU has no bf16)" if precision.startswith("bf16") else ""))
        return device, False, True
    if precision != "fp32":
        log(f"note: {precision} is not used on {device}; computing in fp32")
    return device, False, False


def weights_dtype(torch, cfg: dict, bf16: bool, fp16: bool):
    """The dtype the weights load in. bf16: bf16 weights (pure bf16 training). bf16-mixed: fp32 weights that
    autocast runs in bf16 (fp32 master weights, gradients and optimizer states: transformers 4.x's default).
    fp16: an fp16 base under an adapter, fp32 masters for a full fine-tune (fp16 has too little range)."""
    if bf16 and cfg["training.precision"] != "bf16-mixed":
        return torch.bfloat16
    if fp16 and "lora" in cfg["method"] and cfg["training.precision"] != "bf16-mixed":
        return torch.float16
    return torch.float32


def attn_implementation(cfg: dict, device: str) -> str:
    attn = {"sdpa": "sdpa", "flash": "flash_attention_2", "eager": "eager"}[cfg["training.attn"]]
    if attn == "flash_attention_2" and device != "cuda":
        log(f"note: flash attention needs CUDA; using sdpa on {device}")
        return "sdpa"
    return attn


def lora_kwargs(cfg: dict) -> dict:
    """peft.LoraConfig arguments; targets are 'all-linear', a list, or a comma-separated string."""
    targets = cfg["lora.targets"]
    if isinstance(targets, str) and targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return {"r": cfg["lora.r"], "lora_alpha": cfg["lora.alpha"], "lora_dropout": cfg["lora.dropout"],
            "target_modules": targets}


def trainer_kwargs(cfg: dict, out: Path, device: str, bf16: bool, fp16: bool, has_eval: bool) -> dict:
    """TrainingArguments shared by every template. TRL's own defaults (bf16, gradient checkpointing) are
    overridden on purpose: only what the job says, and what the device can do, applies."""
    names = {"adamw": "adamw_torch_fused" if device == "cuda" else "adamw_torch",
             "adamw_8bit": "adamw_bnb_8bit"}
    optim = names.get(cfg["training.optimizer"], cfg["training.optimizer"])
    if device != "cuda" and ("8bit" in optim or "paged" in optim):
        log(f"note: optimizer {optim} needs CUDA; using adamw on {device}")
        optim = "adamw_torch"
    t = {key.removeprefix("training."): value for key, value in cfg.items() if key.startswith("training.")}
    eval_steps = t["eval_steps"] if has_eval else None
    return {
        "output_dir": str(out / "checkpoints"), "num_train_epochs": t["epochs"],
        "max_steps": t["max_steps"] or -1, "learning_rate": t["learning_rate"],
        "per_device_train_batch_size": t["micro_batch_size"],
        "per_device_eval_batch_size": t["micro_batch_size"], "gradient_accumulation_steps": t["grad_accum"],
        "optim": optim, "seed": t["seed"], "bf16": bf16, "fp16": fp16, "warmup_steps": t["warmup_ratio"],
        "logging_steps": t["logging_steps"], "logging_first_step": True, "save_strategy": "steps",
        "save_steps": t["save_steps"], "save_total_limit": 2, "use_cpu": device == "cpu",
        "eval_strategy": "steps" if eval_steps else "no", "eval_steps": eval_steps, "disable_tqdm": True,
        "gradient_checkpointing": bool(t["grad_ckpt"]),
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "dataloader_pin_memory": device == "cuda", "use_liger_kernel": t["kernels"] == "liger",
        "include_num_input_tokens_seen": "non_padding", "report_to": tracking_setup(cfg, out),
        "run_name": cfg["tracking.run_name"] or cfg["name"],
        **engine_kwargs(cfg),
    }


def sharded(cfg: dict) -> bool:
    """FSDP or ZeRO-3: the weights themselves are split between the ranks."""
    return world()["world_size"] > 1 and cfg["distributed.sharding"] in ("fsdp", "zero3")


def engine_kwargs(cfg: dict) -> dict:
    """The distributed engine, for a run under torchrun: DDP (a full copy per rank), FSDP2 (weights,
    gradients and optimizer state sharded; checkpoints sharded, the final save gathered) or DeepSpeed ZeRO-2/3.
    Alone (a world of 1) there is nothing to add."""
    sharding = cfg["distributed.sharding"]
    if world()["world_size"] == 1:
        return {}
    if sharding in ("none", "ddp"):
        return {"ddp_find_unused_parameters": False}
    if sharding == "fsdp":  # gradient checkpointing stays the model's own: FSDP's activation_checkpointing wraps
        # every layer in a CheckpointWrapper, and PEFT then finds no adapter keys in the gathered state dict
        return {"fsdp": True,
                "fsdp_config": {"version": 2, "reshard_after_forward": True, "state_dict_type": "SHARDED_STATE_DICT"}}
    stage = 2 if sharding == "zero2" else 3
    return {"deepspeed": {
        "zero_optimization": {"stage": stage, "overlap_comm": True,
                              **({"stage3_gather_16bit_weights_on_model_save": True} if stage == 3 else {})},
        "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto", "bf16": {"enabled": "auto"}, "fp16": {"enabled": "auto"}}}


def engine_ready(args, device: str, cfg: dict) -> None:
    """Call after the training arguments, before the trainer. Accelerate turns FSDP on only for GPU-like
    distributed types, so on CPU (the gloo rehearsal) FSDP would silently become DDP: declare the state
    multi-GPU once the arguments have set it up, and FSDP2 really shards."""
    if device == "cpu" and cfg["distributed.sharding"] == "fsdp" and world()["world_size"] > 1:
        from accelerate import PartialState
        from accelerate.utils import DistributedType

        _ = args.device  # sets up the process group and the shared state first
        PartialState().distributed_type = DistributedType.MULTI_GPU


def save_final(trainer, out: Path) -> None:
    """Every rank takes part; rank 0 writes. Under FSDP the shards are gathered into one full state dict first
    (the trainer's own save of a sharded PEFT model writes an empty adapter), so the final adapter or model
    is whole. Checkpoints stay sharded: a resume on the same shape reads them back."""
    if not getattr(trainer, "is_fsdp_enabled", False):
        trainer.save_model(str(out))
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(trainer.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank() == 0:
        trainer.model.save_pretrained(str(out), state_dict=full)
        if trainer.processing_class is not None:
            trainer.processing_class.save_pretrained(str(out))


def progress_callback(tokens_seen=lambda state: state.num_input_tokens_seen):
    """A TrainerCallback printing one TUNEPLAN_PROGRESS line per logging step. It also keeps this session's
    tokens and time, so a resumed run reports its own throughput."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start = (time.monotonic(), state.global_step, tokens_seen(state))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                elapsed = max(time.monotonic() - self.start[0], 1e-9)
                emit("PROGRESS", {
                    "step": state.global_step, "total_steps": state.max_steps,
                    "epoch": round(state.epoch or 0, 4), "loss": logs["loss"],
                    "lr": logs.get("learning_rate"), **{k: logs[k] for k in ("reward", "reward_std") if k in logs},
                    "tokens_per_s": round((tokens_seen(state) - self.start[2]) / elapsed, 1),
                    "eta_s": round((state.max_steps - state.global_step) * elapsed
                                   / max(state.global_step - self.start[1], 1)),
                })

        def on_train_end(self, args, state, control, **kwargs):
            self.tokens, elapsed = int(tokens_seen(state)), max(time.monotonic() - self.start[0], 1e-9)
            self.tokens_per_s = round((self.tokens - self.start[2]) / elapsed, 1)

    return Progress()


def quiet_libraries() -> None:
    """Progress bars of downloads and dataset maps would bury the protocol lines in the launcher's log."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def train_and_eval(trainer, progress, resume: str | None, has_eval: bool) -> dict:
    """Train (from the checkpoint when resuming) and gather the train/eval sections of metrics.json. The
    Trainer's own log printer goes: stdout carries the protocol lines only."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    train = trainer.train(resume_from_checkpoint=resume).metrics
    history = [e for e in trainer.state.log_history if any(k.startswith("eval_") for k in e)]
    at_end = history and history[-1]["step"] == trainer.state.global_step
    final = history[-1] if at_end else trainer.evaluate() if has_eval else {}
    return {"train": train, "eval": {**final, "history": history}, "resumed_from": resume,
            "tokens": progress.tokens, "tokens_per_s": progress.tokens_per_s, "distributed": engine_facts(trainer)}


def engine_facts(trainer) -> dict:
    """Which engine ran and what rank 0 held of the weights: under FSDP2 each parameter is a DTensor whose
    local shard is a fraction of it, so a run that fell back to plain DDP shows here (held == total)."""
    total = held = 0
    for parameter in trainer.model.parameters():
        total += parameter.numel()
        held += parameter.to_local().numel() if hasattr(parameter, "to_local") else parameter.numel()
    where = world()
    engine = ("fsdp" if getattr(trainer, "is_fsdp_enabled", False) else
              "deepspeed" if getattr(trainer, "is_deepspeed_enabled", False) else
              "ddp" if where["world_size"] > 1 else "none")
    return {"engine": engine, "world_size": where["world_size"], "nodes": where["nodes"],
            "parameters": total, "parameters_held_by_rank0": held}


def peak_memory(torch, device: str) -> tuple[float | None, float | None]:
    """(allocated, reserved) peak GiB on CUDA, the largest over every rank (each rank calls this); else None."""
    if device != "cuda":
        return None, None
    peaks = torch.tensor([torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()],
                         dtype=torch.float64, device="cuda")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(peaks, op=torch.distributed.ReduceOp.MAX)
    return float(peaks[0]) / 2**30, float(peaks[1]) / 2**30


def finish(cfg: dict, out: Path, result: dict, torch, device: str, started: float) -> None:
    """metrics.json and resolved_config.json, the adapter pointed at its base as the user names it, the optional
    Hub upload (its outcome in push.json), then the manifest (last). Every rank calls it (the peak memory is
    gathered); only global rank 0 writes."""
    allocated, reserved = peak_memory(torch, device)
    if rank() != 0:
        return
    where = world()
    write_json(out / "metrics.json", {
        "task": TASK, "method": cfg["method"], **result, "wall_s": round(time.monotonic() - started, 3),
        "peak_mem_allocated_gib": allocated, "peak_mem_reserved_gib": reserved, "device": device,
        "world_size": where["world_size"], "nodes": where["nodes"], "versions": package_versions(),
        "tracking": tracking_facts(cfg, out),
    })
    write_json(out / "resolved_config.json", nested(cfg))
    point_adapters_at_base(out, cfg["base_model"])
    if cfg["outputs.push_to_hub"]:
        write_json(out / "push.json", push_to_hub(out, cfg["outputs.push_to_hub"]))
    write_manifest(out)


# <<< ml-common
