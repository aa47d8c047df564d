# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "accelerate==1.15.0",
#     "datasets==5.0.1",
#     "numpy==2.4.6",
#     "peft==0.21.2",
#     "pyyaml==6.0.4",
#     "torch==2.13.0",
#     "transformers==5.17.0",
# ]
# ///
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

import argparse
import csv
import difflib
import hashlib
import importlib.util
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

TASK = "classify"
METHODS = ("full", "lora")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"text-label": ("text", "label")}
LIMITS = {"training.kernels": ("none",), "training.attn": ("sdpa", "eager"), "quantization": ("none",)}


# >>> common: identical in every template (tests/templates checks the copies)
DEFAULTS = {  # the JobSpec keys, flattened; project/owner/resources/secrets belong to the launcher
    "name": "job", "task": TASK, "model": None, "method": METHODS[0], "quantization": "none",
    "output_dir": None, "base_model": None, "lora.r": 16, "lora.alpha": 32, "lora.dropout": 0.05, "lora.targets": "all-linear",
    "spectrum.top_fraction": 0.25, "outputs.merge_adapter": False, "outputs.push_to_hub": None,
    "data.train": None, "data.eval": None, "data.format": None, "data.examples": None,
    "data.avg_tokens": None, "training.epochs": 1, "training.seq_len": 1024, "training.micro_batch_size": 2,
    "training.grad_accum": 8, "training.learning_rate": 2e-4, "training.grad_ckpt": True,
    "training.attn": "sdpa", "training.optimizer": "adamw", "training.precision": "bf16",
    "training.packing": False, "training.kernels": "none", "training.max_steps": None,
    "training.logging_steps": 10, "training.save_steps": 200, "training.eval_steps": None,
    "training.seed": 42, "training.warmup_ratio": 0.03,
}
IGNORED = ("project", "owner", "resources", "secrets")
CHOICES = {
    "quantization": ("none", "int8", "nf4", "gptq4"), "training.attn": ("sdpa", "flash", "eager"),
    "training.optimizer": ("adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor",
                           "sgd"),
    "training.precision": ("bf16", "fp16", "fp32"), "training.kernels": ("none", "liger", "unsloth"),
    "data.format": (None, "chat", "prompt-completion", "text", "preference", "text-label", "pairs",
                    "triplets"),
}
POSITIVE = ("training.epochs", "training.seq_len", "training.micro_batch_size", "training.grad_accum",
            "training.learning_rate", "training.logging_steps", "training.save_steps", "lora.r", "lora.alpha")


class JobError(Exception):
    code = 1  # exit status; the message is reported as one line


class BadInput(JobError):
    code = 2  # the config or data is wrong; nothing was trained


class NoCheckpoint(JobError):
    code = 3  # --require-resume, but there is no checkpoint to resume from


def log(message: str) -> None:
    """Notes go to stderr, so stdout carries only the TUNEPLAN_* protocol."""
    print(f"[{TASK}] {message}", file=sys.stderr, flush=True)


def emit(kind: str, payload: dict) -> None:
    """One protocol line, flushed so a launcher tailing the log sees it at once."""
    print(f"TUNEPLAN_{kind} {json.dumps(payload)}", flush=True)


def parse_args(argv: list[str], extra: tuple = ()) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--config", type=Path, help="job file (JSON or YAML): the resolved JobSpec")
    for flag in ("--output-dir", "--model", "--method"):
        p.add_argument(flag)
    p.add_argument("--epochs", type=float, dest="training.epochs")
    p.add_argument("--max-steps", type=int, dest="training.max_steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any job key, e.g. training.seq_len=512 (the value is parsed as JSON when it can be)")
    p.add_argument("--validate-only", action="store_true",
                   help="check the config, the data and the tokenizer; train nothing")
    p.add_argument("--require-resume", action="store_true", help="exit 3 unless a checkpoint exists")
    for flag, kwargs in extra:
        p.add_argument(flag, **kwargs)
    return p.parse_args(argv)


def read_config_file(path: Path) -> dict:
    """JSON needs nothing installed; pyyaml is imported only for a YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except OSError as e:
        raise BadInput(f"cannot read config {path}: {e.strerror}") from e
    except ImportError as e:
        raise BadInput("YAML configs need pyyaml (pip install pyyaml); or pass the job as JSON") from e
    except Exception as e:  # json and yaml parse errors share no base class below Exception
        raise BadInput(f"{path}: not valid JSON/YAML: {' '.join(str(e).split())[:200]}") from e
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a mapping at the top level")
    return {k: v for k, v in data.items() if k not in IGNORED}


def flatten(data: dict, where: str, prefix: str = "") -> dict:
    """Nested mapping -> dotted keys. Unknown keys are refused so a typo never falls back to a default."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if any(k.startswith(name + ".") for k in DEFAULTS):
            if not isinstance(value, dict):
                raise BadInput(f"'{name}' in {where} must be a mapping")
            flat.update(flatten(value, where, name + "."))
        elif name in DEFAULTS:
            flat[name] = value
        else:
            near = difflib.get_close_matches(name, DEFAULTS, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise BadInput(f"unknown key '{name}' in {where}{hint}")
    return flat


def resolve_config(args: argparse.Namespace) -> dict:
    """Defaults < file < flags. Paths in the file are relative to its directory (the bundle's layout)."""
    cfg = dict(DEFAULTS)
    if args.config:
        data, base = flatten(read_config_file(args.config), str(args.config)), args.config.resolve().parent
        for key in ("data.train", "data.eval", "output_dir", "model"):
            value = data.get(key)
            local = isinstance(value, str) and not value.startswith("hub:")
            if local and (key != "model" or (base / value).is_dir()):  # else a model is a Hub id
                data[key] = str(base / value)
        cfg.update(data)
    cfg.update({k: v for k, v in vars(args).items() if v is not None and k in DEFAULTS})
    for key, _, text in (item.partition("=") for item in args.set):
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        cfg.update(flatten({key: value}, "--set"))
    return cfg


def nested(cfg: dict) -> dict:
    out: dict = {}
    for key, value in cfg.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def validate_config(cfg: dict) -> None:
    """Checks that need no ML import, so a bad job fails in milliseconds, before anything is paid for."""
    if cfg["task"] != TASK:
        raise BadInput(f"this job is for task '{cfg['task']}', but this is the {TASK} template")
    for key in REQUIRED:
        if not cfg[key]:
            raise BadInput(f"'{key}' is required (in the config file or as a flag)")
    for key, allowed in {"method": METHODS, **CHOICES, **LIMITS}.items():
        if cfg[key] not in allowed:
            raise BadInput(f"{key} '{cfg[key]}' is not one of: {', '.join(map(str, allowed))}")
    if cfg["data.format"] not in (None, *FORMATS):  # the JobSpec's default is "chat", whatever the task
        log(f"note: data.format '{cfg['data.format']}' is not a {TASK} format; the columns decide")
        cfg["data.format"] = None
    for key in (*POSITIVE, "spectrum.top_fraction"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], int | float) or cfg[key] <= 0:
            raise BadInput(f"{key} must be a positive number, got {cfg[key]!r}")
    if cfg["spectrum.top_fraction"] > 1:
        raise BadInput("spectrum.top_fraction must be at most 1")


def write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", "sentence-transformers",
            "huggingface-hub", "safetensors", "tokenizers", "deepspeed", "liger-kernel", "unsloth")


def package_versions() -> dict:
    """What trained this run, for the ledger: Python, the platform and the ML packages installed here (read
    from their metadata: nothing is imported)."""
    import platform
    from importlib import metadata

    found = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def write_manifest(out: Path, skip: str = "checkpoints") -> None:
    """Written last and atomically, so a manifest means every file it lists is complete. Checkpoints are left
    out: they are large and only a rerun in the same dir (a resume) needs them."""
    files = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel != "manifest.json" and rel.split("/")[0] != skip:
            with path.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            files.append({"path": rel, "bytes": path.stat().st_size, "sha256": digest})
    write_json(out / "manifest.json", {"files": files, "complete": True, "excluded": [skip]})


def prepare_output(out: Path) -> None:
    """A stale manifest would vouch for a half-rewritten dir, so it goes before anything new is written."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)


def find_resume(out: Path, required: bool) -> str | None:
    """Latest checkpoint that has its trainer_state.json (one cut off mid-write does not)."""
    found = [p for p in (out / "checkpoints").glob("checkpoint-*")
             if p.name[11:].isdigit() and (p / "trainer_state.json").is_file()]
    if not found:
        if required:
            raise NoCheckpoint(f"--require-resume: no checkpoint under {out / 'checkpoints'}")
        return None
    latest = str(max(found, key=lambda p: int(p.name[11:])))
    log(f"resuming from {latest}")
    return latest


def on_sigterm(signum, frame) -> None:
    """Spot preemption sends SIGTERM: end like any failure (exit 1, a done line) so the launcher can rerun."""
    raise JobError("terminated by SIGTERM; rerun with the same output dir to resume from the last checkpoint")


def run(main) -> None:
    """Every outcome becomes an exit code, one stderr line, and the final TUNEPLAN_DONE line."""
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        main(sys.argv[1:])
        emit("DONE", {"ok": True})
        return
    except JobError as e:
        code, message = e.code, " ".join(str(e).split())
    except KeyboardInterrupt:
        code, message = 1, "interrupted"
    except Exception as e:  # noqa: BLE001 - the one place that reports unexpected failures, with a traceback
        traceback.print_exc()
        code, message = 1, " ".join(f"{type(e).__name__}: {e}".split())[:400]
    print(f"error: {message}", file=sys.stderr, flush=True)
    emit("DONE", {"ok": False, "error": message})
    sys.exit(code)
# <<< common


# >>> ml-common: identical in every training template (tests/templates checks the copies)
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


def check_packages(cfg: dict) -> None:
    """Optional accelerations fail before any download, in one line, when their package is missing."""
    for key, value, module, package in (("training.kernels", "liger", "liger_kernel", "liger-kernel"),
                                        ("training.attn", "flash", "flash_attn", "flash-attn")):
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


def main(argv: list[str]) -> None:
    """The same flow for every training template; load_data, check_data and train are the task's own.
    Everything that can be refused without ML imports is refused first."""
    started, args = time.monotonic(), parse_args(argv)
    cfg = resolve_config(args)
    validate_config(cfg)
    data = load_data(cfg)
    out = Path(cfg["output_dir"])
    resume = None if args.validate_only else find_resume(out, args.require_resume)
    check_packages(cfg)
    import torch

    tokenizer = load_tokenizer(cfg)
    summary = check_data(cfg, tokenizer, data)
    if args.validate_only:
        print(f"validate-only: ok {json.dumps(summary)}", flush=True)
        return
    prepare_output(out)
    torch.manual_seed(cfg["training.seed"])  # a new head or LoRA adapter starts the same on every run
    train(cfg, out, tokenizer, data, resume, started, torch)


def device_plan(torch, precision: str) -> tuple[str, bool, bool]:
    """(device, bf16, fp16): CUDA, else Apple mps, else CPU; mixed precision only where the device has it."""
    mps = getattr(torch.backends, "mps", None)
    device = "mps" if mps is not None and mps.is_available() else "cpu"
    device = "cuda" if torch.cuda.is_available() else device
    if device == "cuda" and precision == "bf16" and torch.cuda.is_bf16_supported():
        return device, True, False
    if device == "cuda" and precision != "fp32":
        log("note: fp16 mixed precision" + (" (this GPU has no bf16)" if precision == "bf16" else ""))
        return device, False, True
    if precision != "fp32":
        log(f"note: {precision} is not used on {device}; computing in fp32")
    return device, False, False


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
        "include_num_input_tokens_seen": "non_padding", "report_to": "none",
    }


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
                    "lr": logs.get("learning_rate"),
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
            "tokens": progress.tokens, "tokens_per_s": progress.tokens_per_s}


def finish(cfg: dict, out: Path, result: dict, torch, device: str, started: float) -> None:
    """metrics.json and resolved_config.json, the adapter pointed at its base as the user names it, the optional
    Hub upload (its outcome in push.json), then the manifest (last)."""
    cuda = device == "cuda"
    write_json(out / "metrics.json", {
        "task": TASK, "method": cfg["method"], **result, "wall_s": round(time.monotonic() - started, 3),
        "peak_mem_allocated_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "peak_mem_reserved_gib": torch.cuda.max_memory_reserved() / 2**30 if cuda else None, "device": device,
        "versions": package_versions(),
    })
    write_json(out / "resolved_config.json", nested(cfg))
    point_adapters_at_base(out, cfg["base_model"])
    if cfg["outputs.push_to_hub"]:
        write_json(out / "push.json", push_to_hub(out, cfg["outputs.push_to_hub"]))
    write_manifest(out)


def point_adapters_at_base(out: Path, base_model: str | None) -> None:
    """PEFT records the folder it loaded the base model from, here a scratch folder of this machine that is
    deleted with it; the adapter must name the model the way the user knows it (a Hub id, or their own local
    folder) so that ``AutoPeftModel*.from_pretrained(adapter)`` loads it where it is pulled to."""
    if not base_model:
        return
    for path in out.rglob("adapter_config.json"):
        if path.relative_to(out).parts[0] == "checkpoints":
            continue
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_model
        write_json(path, config)


def push_to_hub(out: Path, repo_id: str) -> dict:
    """Upload the outputs (checkpoints left out). Training succeeded whatever happens here: a failed push is an
    outcome of its own, reported in push.json, and ``tuneplan push RUN`` retries it from the pulled copy."""
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        repo = api.create_repo(repo_id, private=True, exist_ok=True).repo_id
        api.upload_folder(repo_id=repo, folder_path=out, ignore_patterns=["checkpoints/*", "push.json"])
    except Exception as e:  # noqa: BLE001 - any failure of the push; the trained adapter is kept either way
        error = " ".join(f"{type(e).__name__}: {e}".split())[:400]
        log(f"the push to the Hub ({repo_id}) failed: {error}")
        return {"repo": repo_id, "ok": False, "error": error, "endpoint": os.environ.get("HF_ENDPOINT", "")}
    return {"repo": repo, "ok": True, "url": f"{api.endpoint}/{repo}"}
# <<< ml-common


def hold_out(rows: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Without data.eval, a seeded 10 % (at least one row) is kept aside so the reported scores are honest."""
    if len(rows) < 2:
        raise BadInput("data.train: need at least 2 rows to hold some out for evaluation (or give data.eval)")
    rows = random.Random(seed).sample(rows, len(rows))
    cut = max(len(rows) // 10, 1)
    log(f"note: no data.eval; holding out {cut} train rows for evaluation")
    return rows[cut:], rows[:cut]


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


def load_model(cfg: dict, torch, device: str, bf16: bool, labels: list[str]):
    """A fresh classification head named with the labels; LoRA also trains that head (modules_to_save)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        cfg["model"], num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)}, dtype=torch.bfloat16 if bf16 else torch.float32,
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
    trainer = Trainer(
        model=model, args=TrainingArguments(**trainer_kwargs(cfg, out, device, bf16, fp16, True)),
        train_dataset=train_set, eval_dataset=eval_set, processing_class=tokenizer, compute_metrics=scores,
        data_collator=DataCollatorWithPadding(tokenizer), callbacks=[progress],
    )
    result = train_and_eval(trainer, progress, resume, True)
    trainer.save_model(str(out))
    if cfg["method"] == "lora":
        model.config.save_pretrained(out)  # the adapter alone would lose the label names
        if cfg["outputs.merge_adapter"]:
            model.merge_and_unload().save_pretrained(out / "merged")
            tokenizer.save_pretrained(out / "merged")
    finish(cfg, out, result, torch, device, started)


if __name__ == "__main__":
    run(main)
