"""The job being edited on the Plan screen, as the raw text of its fields, and the planner's numbers for it.

Nothing here imports textual: the Plan screen calls ``estimate_draft`` and ``bench/bench_tui.py`` times it,
so the TUI shows exactly what ``tuneplan plan`` prints (same ``job_inputs``, same ``make_plan``). Each field
is parsed on its own first, so a bad value is reported on that field (shown inline) rather than as one
error for the whole form; what only the combination can reject lands on the form-wide key ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from planner.errors import TuneplanError

DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"
TASKS = ("sft", "dpo", "classify", "embed", "ner", "reward", "rerank", "grpo")
METHODS = ("lora", "qlora", "full", "spectrum")
QUANTS = ("none", "nf4", "int8", "gptq4")
SHARDINGS = ("none", "ddp", "fsdp", "zero2", "zero3")  # none: DDP on several GPUs, as the CLI does
STACKS = ("tuneplan", "hf-legacy", "axolotl", "llama-factory", "unsloth", "torchtune", "litgpt")

# Form field → (the CLI flag it stands for, how its text is parsed). Empty optional fields are "not given".
INT_FIELDS = ("seq_len", "batch_size", "gpus", "nodes", "examples", "avg_tokens")
FLOAT_FIELDS = ("epochs",)
CHOICE_FIELDS = {"task": TASKS, "method": METHODS, "quant": QUANTS, "sharding": SHARDINGS, "stack": STACKS}
OPTIONAL_FIELDS = ("examples", "avg_tokens", "epochs")
LABELS = {
    "model": "Model", "task": "Task", "method": "Method", "quant": "Quantization", "seq_len": "Sequence length",
    "batch_size": "Micro-batch", "grad_ckpt": "Grad checkpointing", "gpus": "GPUs per node", "nodes": "Nodes",
    "sharding": "Sharding", "stack": "Stack",
    "examples": "Examples", "avg_tokens": "Tokens/example", "epochs": "Epochs",
}


@dataclass
class Draft:
    """The form's values (text for numbers, bool for switches) and the spec they started from, if any."""

    values: dict[str, Any]
    spec_path: Path | None = None
    spec_task: str | None = None
    grpo: dict[str, Any] | None = None
    """A grpo spec's generation settings (answers per prompt and at once, answer length, KL): no form fields."""


def default_draft() -> Draft:
    """A sensible first job (CONTRACTS §9): a 7B instruct model with QLoRA, so the first paint has numbers."""
    return Draft({"model": DEFAULT_MODEL, "task": "sft", "method": "qlora", "quant": "nf4", "seq_len": "2048",
                  "batch_size": "1", "grad_ckpt": True, "gpus": "1", "nodes": "1", "sharding": "none",
                  "stack": "tuneplan",
                  "examples": "", "avg_tokens": "", "epochs": ""})


def draft_from_spec(path: Path) -> Draft:
    """The form filled from a job spec (validated the same way ``tuneplan plan --spec`` validates it)."""
    from planner.spec import load_spec

    spec = load_spec(path)
    t, data = spec.training, spec.data
    values = {"model": spec.model, "task": spec.task if spec.task in TASKS else "sft", "method": spec.method,
              "quant": spec.quantization, "seq_len": str(t.seq_len), "batch_size": str(t.micro_batch_size),
              "grad_ckpt": t.grad_ckpt, "gpus": str(spec.resources.gpus), "nodes": str(spec.resources.nodes),
              "sharding": spec.resources.sharding, "stack": t.stack,
              "examples": _text(data.examples), "avg_tokens": _text(data.avg_tokens), "epochs": f"{t.epochs:g}"}
    if (data.examples is None or data.avg_tokens is None) and spec.task != "smoke":
        counted = _counted(spec, path)  # the data file is here: count it rather than show "(assumed)"
        if counted is not None:
            values["examples"] = values["examples"] or str(counted.examples)
            values["avg_tokens"] = values["avg_tokens"] or str(counted.avg_tokens)
    grpo = None
    if spec.task == "grpo":  # the sequence is the prompt's room and the answer's, as `plan --spec` reads it
        g = spec.grpo
        values["seq_len"] = str(g.max_prompt_length + g.max_completion_length)
        grpo = {"num_generations": g.num_generations, "completion_len": g.max_completion_length,
                "kl_coef": g.kl_coef, "grad_accum": t.grad_accum}  # accumulation sets how many answers at once
    return Draft(values, path, spec.task, grpo)


def _counted(spec, path: Path):
    """The spec's data size as a launch counts it (rows of the local train file, ~4 bytes a token); None when
    the data is not on this machine."""
    from planner.errors import TuneplanError
    from remote_jobs.estimate import data_size
    from remote_jobs.resolve import resolve_job

    try:
        size = data_size(resolve_job(spec, path))
    except (TuneplanError, OSError):
        return None
    return None if size.assumed else size


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class DraftEstimate:
    """What the Plan screen shows: the plan JSON (CONTRACTS §3) or the errors, per field."""

    plan: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    job: Any = None  # planner.recommend.Job, for the Options screen
    quotes: dict[str, Any] = field(default_factory=dict)  # GPU → tuneplan.tui.quotes.Quote


def parse_fields(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the CLI-style flags, errors by field) — every field checked on its own."""
    flags: dict[str, Any] = {}
    errors: dict[str, str] = {}
    model = str(values.get("model", "")).strip()
    if model:
        flags["model"] = model
    else:
        errors["model"] = "type a model: a catalog id, a Hub id, or a local folder"
    for name, allowed in CHOICE_FIELDS.items():
        if values.get(name) in allowed:
            flags[name] = values[name]
    flags["grad_ckpt"] = bool(values.get("grad_ckpt", True))
    for name in (*INT_FIELDS, *FLOAT_FIELDS):
        _parse_number(name, str(values.get(name, "")).strip(), flags, errors)
    return flags, errors


def _parse_number(name: str, text: str, flags: dict[str, Any], errors: dict[str, str]) -> None:
    if not text:
        if name not in OPTIONAL_FIELDS:
            errors[name] = "required"
        return
    kind = float if name in FLOAT_FIELDS else int
    try:
        value = kind(text.replace(",", "").replace("_", ""))
    except ValueError:
        errors[name] = f"'{text}' is not {'a number' if kind is float else 'a whole number'}"
        return
    if value <= 0:
        errors[name] = "must be positive"
        return
    flags[name] = value


def is_instant(model: str) -> bool:
    """Catalog models are estimated at once; anything else (Hub id, folder, tiny:) reads disk or network."""
    from planner.catalog.models import find_catalog_model

    return find_catalog_model(model.strip()) is not None


def estimate_draft(draft: Draft, rows: list | tuple = (), resolve: Callable[[str], Any] | None = None) -> DraftEstimate:
    """The planner's estimate for the form, or its errors; never raises for a mistake in the form."""
    from planner.plan import make_plan
    from planner.recommend import Job
    from tuneplan.cli.choices import resolve_model
    from tuneplan.cli.job_inputs import job_inputs
    from tuneplan.tui.quotes import cheapest_quotes

    if draft.spec_task == "smoke":
        return DraftEstimate(errors={"": "a smoke job trains no model: nothing to plan (launch it from Runs)"})
    flags, errors = parse_fields(draft.values)
    if errors:
        if "model" in flags:  # still say whether the model is known, so every wrong field is marked at once
            try:
                (resolve or resolve_model)(flags["model"])
            except TuneplanError as exc:
                errors["model"] = str(exc)
        return DraftEstimate(errors=errors)
    try:
        inputs = job_inputs(flags)
        if draft.grpo and inputs.setup.task == "grpo":
            inputs = replace(inputs, setup=replace(inputs.setup, **draft.grpo).validated())
        model = (resolve or resolve_model)(inputs.model_name)
        inputs = inputs.for_model(model)
        plan = make_plan(model, inputs.setup, inputs.data)
    except TuneplanError as exc:
        return DraftEstimate(errors={_blame(str(exc)): str(exc)})
    payload = plan.to_json()
    return DraftEstimate(payload, {}, Job(model, inputs.setup, inputs.data),
                         cheapest_quotes(payload, rows, model.params_total))


def _blame(message: str) -> str:
    """The field an error from the layers below is about (by the flag or word it names), else the form."""
    lowered = message.lower()
    for name in (*INT_FIELDS, *FLOAT_FIELDS, "quant", "method", "task"):
        if f"--{name.replace('_', '-')}" in lowered:
            return name
    if "model" in lowered or "hub" in lowered or "config.json" in lowered:
        return "model"
    if "micro-batch" in lowered:  # grpo: the answers per step must hold whole groups
        return "batch_size"
    return ""
