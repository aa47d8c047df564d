"""What every template shares: its settings (defaults < the --config file < flags, unknown keys refused),
the protocol lines on stdout, bad-input and exit-code handling, package versions, the manifest written
last, the output folder and checkpoint resume, and SIGTERM as "checkpoint and stop".

``make templates`` copies the lines between the ``# >>> common`` and ``# <<< common`` markers into every
template (``templates/build.py``); the lines above them only make this an ordinary module for its tests.
Standard library only, at the top level: heavy imports stay inside the functions that need them.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path

# Each template defines its own of these above the shared code; these values make the module importable.
TASK = "sft"
METHODS = ("lora", "full", "qlora", "spectrum")
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"chat": ("messages",), "prompt-completion": ("prompt", "completion"), "text": ("text",)}
LIMITS: dict = {}


# >>> common
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
    "training.stack": "tuneplan",  # the stack a plan was made for; the templates are the tuneplan stack
    "distributed.nodes": 1, "distributed.gpus_per_node": 1, "distributed.sharding": "none",
    "tracking.backend": "none", "tracking.project": None, "tracking.run_name": None, "tracking.uri": None,
    "grpo.rewards": ["exact"], "grpo.reward_file": None, "grpo.num_generations": 4, "grpo.max_prompt_length": 256,
    "grpo.max_completion_length": 256, "grpo.kl_coef": 0.0, "grpo.temperature": 1.0,
    "grpo.format_regex": r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", "grpo.length_target": None,
}
IGNORED = ("project", "owner", "resources", "secrets")
CHOICES = {
    "quantization": ("none", "int8", "nf4", "gptq4"), "training.attn": ("sdpa", "flash", "eager"),
    "training.optimizer": ("adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor",
                           "sgd"),
    "training.precision": ("bf16", "bf16-mixed", "fp16", "fp32"), "training.kernels": ("none", "liger", "unsloth"),
    "data.format": (None, "chat", "prompt-completion", "text", "preference", "text-label", "pairs",
                    "triplets", "tokens-tags", "query-passage", "prompt-answer"),
    "distributed.sharding": ("none", "ddp", "fsdp", "zero2", "zero3"),
    "tracking.backend": ("none", "wandb", "mlflow"),
}
POSITIVE = ("training.epochs", "training.seq_len", "training.micro_batch_size", "training.grad_accum",
            "training.learning_rate", "training.logging_steps", "training.save_steps", "lora.r", "lora.alpha",
            "distributed.nodes", "distributed.gpus_per_node", "grpo.num_generations", "grpo.max_prompt_length",
            "grpo.max_completion_length", "grpo.temperature")


class JobError(Exception):
    code = 1  # exit status; the message is reported as one line


class BadInput(JobError):
    code = 2  # the config or data is wrong; nothing was trained


class NoCheckpoint(JobError):
    code = 3  # --require-resume, but there is no checkpoint to resume from


def log(message: str) -> None:
    """Notes go to stderr, so stdout carries only the TUNEPLAN_* protocol; under torchrun rank 0's are enough."""
    if rank() == 0:
        print(f"[{TASK}] {message}", file=sys.stderr, flush=True)


def rank() -> int:
    """This process's global rank under torchrun (``RANK``); 0 when it runs alone."""
    return int(os.environ.get("RANK") or 0)


def emit(kind: str, payload: dict) -> None:
    """One protocol line, flushed so a launcher tailing the log sees it at once. Under torchrun only global
    rank 0 speaks for the run (never a node's rank 0: with c10d rendezvous node ranks come in any order)."""
    if rank() == 0:
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
        for key in ("data.train", "data.eval", "output_dir", "model", "grpo.reward_file"):
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


def complete_checkpoint(path: Path, world_size: int) -> bool:
    """A checkpoint a resume can load: its trainer_state.json (written last; one cut off mid-write has none)
    and, from a run of several processes, every rank's own files: ``rng_state_<r>.pth`` and, in each sharded
    (torch.distributed.checkpoint) folder, the ``__<r>_*.distcp`` shards. Where each machine's writes reach
    shared storage on their own (a Modal Volume commits per container), a machine lost before it committed
    leaves a checkpoint with rank 0's part only; it is passed over for the one before."""
    if not (path / "trainer_state.json").is_file():
        return False
    if world_size <= 1:
        return True
    ranks = range(world_size)
    if not all((path / f"rng_state_{r}.pth").is_file() for r in ranks):
        return False
    for metadata in path.rglob(".metadata"):
        if not all(any(metadata.parent.glob(f"__{r}_*.distcp")) for r in ranks):
            return False
    return True


def find_resume(out: Path, required: bool) -> str | None:
    """Latest complete checkpoint (``complete_checkpoint``) of a run of this many processes."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    found = [p for p in (out / "checkpoints").glob("checkpoint-*")
             if p.name[11:].isdigit() and complete_checkpoint(p, world_size)]
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
    print(f"error: {message}" if rank() == 0 else f"error (rank {rank()}): {message}", file=sys.stderr, flush=True)
    emit("DONE", {"ok": False, "error": message})
    sys.exit(code)
# <<< common
