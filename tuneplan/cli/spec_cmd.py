"""``tuneplan spec``: the job spec's JSON Schema (``schema``, for editors that complete and check YAML) and a
commented starter spec for a task (``new --task sft``).

Why generated from the model: the schema is ``JobSpec.model_json_schema()`` itself, so it can never disagree with
what ``load_spec`` accepts; each starter is checked against the same model before it is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput

spec_app = typer.Typer(help="The job spec: its JSON Schema, its reference page, and a commented starter spec per task.",
                       no_args_is_help=True, add_completion=False, rich_markup_mode=None)

SCHEMA_ID = "https://tuneplan.dev/schema/job-spec.json"
# Starting learning rates as the TRL / sentence-transformers docs use them: LoRA SFT 2e-4, DPO 5e-6 (its
# documented default), full fine-tunes of small encoders 5e-5 / 2e-5.
LEARNING_RATES = {"sft": "2.0e-4", "dpo": "5.0e-6", "classify": "5.0e-5", "embed": "2.0e-5", "ner": "5.0e-5",
                  "reward": "1.0e-5", "rerank": "2.0e-5", "grpo": "1.0e-5", "smoke": "1.0e-4"}

# task -> (model, method, data format, the train file's one-line shape, a line about the method)
STARTERS = {
    "sft": ("Qwen/Qwen2.5-7B-Instruct", "qlora", "chat",
            '{"messages": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}]}',
            "qlora: 4-bit base weights + LoRA adapters; fits a 7B model on a 24 GB card"),
    "dpo": ("Qwen/Qwen2.5-7B-Instruct", "qlora", "preference",
            '{"prompt": "…", "chosen": "…", "rejected": "…"}',
            "qlora: 4-bit base weights + LoRA adapters (the frozen base is the DPO reference)"),
    "classify": ("answerdotai/ModernBERT-base", "full", "text-label", '{"text": "…", "label": "billing"}',
                 "full: a small encoder trains every weight"),
    "embed": ("BAAI/bge-base-en-v1.5", "full", "pairs", '{"anchor": "…", "positive": "…"}',
              "full: a small encoder trains every weight (in-batch negatives)"),
    "ner": ("microsoft/deberta-v3-base", "full", "tokens-tags",
            '{"tokens": ["Ada", "joined", "Acme"], "tags": ["B-PER", "O", "B-ORG"]}',
            "full: a small encoder trains every weight (a cased tokenizer keeps the capitals names carry)"),
    "reward": ("Qwen/Qwen2.5-7B-Instruct", "lora", "preference", '{"prompt": "…", "chosen": "…", "rejected": "…"}',
               "lora: adapters on a frozen base, and the new one-output reward head trained whole"),
    "rerank": ("answerdotai/ModernBERT-base", "full", "query-passage",
               '{"query": "…", "passage": "…", "label": 1}',
               "full: a small encoder reads query and passage together and trains every weight"),
    "grpo": ("Qwen/Qwen2.5-1.5B-Instruct", "lora", "prompt-answer", '{"prompt": "…", "answer": "42"}',
             "lora: adapters on a frozen base; with a KL penalty the base with the adapter off is the reference"),
    "smoke": ("none", "lora", "chat", "(none: the smoke job trains nothing)",
              "a smoke job checks a launcher end to end for cents; it loads no model"),
}


@spec_app.command("schema", help="The job spec's JSON Schema (point your editor's YAML plugin at it).")
def schema(output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write it here instead of stdout.")) -> None:
    from planner.spec import JobSpec
    from planner.spec_reference import with_descriptions

    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
                **with_descriptions(JobSpec.model_json_schema())}
    document["title"] = "tuneplan job spec"
    text = json.dumps(document, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {output}\n")


@spec_app.command("reference", help="Every spec field (type, default, bounds, meaning) and the data formats, as "
                  "Markdown (docs/spec-reference.md is this).")
def reference(output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write it here instead of stdout.")
              ) -> None:
    from planner.spec_reference import markdown

    text = markdown()
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {output}\n")


@spec_app.command("new", help="Write a commented starter spec for a task (sft, dpo, classify, embed, ner, reward, "
                  "rerank, grpo, smoke).")
def new(
    task: str = typer.Option("sft", "--task", help="sft | dpo | classify | embed | ner | reward | rerank | grpo | smoke"),
    name: str = typer.Option("my-job", "--name", help="The job's name (a-z, 0-9, '-')."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here (default: stdout); never "
                                          "overwrites a file."),
) -> None:
    from planner.suggest import did_you_mean

    if task not in STARTERS:
        raise BadInput(f"--task must be one of {', '.join(STARTERS)}, got {task!r}{did_you_mean(task, STARTERS)}")
    text = starter(task, name)
    if output is None:
        sys.stdout.write(text)
        return
    if output.exists():
        raise BadInput(f"{output} exists: pick another --output (a starter never overwrites a spec)")
    output.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {output}: edit the data paths, then `tuneplan plan --spec {output}`\n")


def starter(task: str, name: str) -> str:
    """The starter spec's YAML text, checked against ``JobSpec`` (a starter that would not load is a bug)."""
    import yaml

    from planner.spec import JobSpec

    model, method, data_format, shape, why = STARTERS[task]
    smoke = task == "smoke"
    lines = [
        f"# A tuneplan job spec for {task}. `tuneplan spec schema` gives the JSON Schema for your editor;",
        "# every key below is optional except model (defaults shown where they matter).",
        _noted(f"name: {name}", "a-z, 0-9 and '-': run ids are derived from it"),
        _noted("project: default", "who pays: reports and budgets group by it"),
        f"task: {task}",
        _noted(f"model: {model}", "" if smoke else "a catalog id (tuneplan models), a Hub id or a config.json"),
        _noted(f"method: {method}", why),
    ]
    if method in ("lora", "qlora") and not smoke:
        lines += ["lora: {r: 16, alpha: 32, dropout: 0.05, targets: all-linear}"]
    if not smoke:
        lines += [
            "data:",
            _noted("  train: data/train.jsonl", f"one JSON object per line: {shape}"),
            "  # eval: data/eval.jsonl",
            f"  format: {data_format}",
            "training:",
            "  epochs: 1",
            *([] if task == "grpo" else [_noted(f"  seq_len: {2048 if task in ('sft', 'dpo') else 512}",
                                                "longer rows are truncated")]),
            _noted(f"  micro_batch_size: {8 if task == 'grpo' else 1 if task in ('sft', 'dpo') else 32}",
                   "answers, not prompts: with grad_accum a multiple of grpo.num_generations" if task == "grpo" else ""),
            f"  grad_accum: {4 if task == 'grpo' else 8 if task in ('sft', 'dpo') else 1}",
            _noted(f"  learning_rate: {LEARNING_RATES[task]}", "a common starting point for this task and method"),
        ]
    else:
        lines += ["training:", "  max_steps: 5"]
    if task == "grpo":
        lines += [
            "grpo:",
            _noted("  rewards: [numeric, format]", "built in: exact, numeric, format, length; or your functions"),
            "  # reward_file: rewards.py      # your reward functions (name them in rewards)",
            _noted("  num_generations: 8", "answers per prompt, compared with each other"),
            "  max_prompt_length: 256",
            _noted("  max_completion_length: 1024", "the planner prices every answer at this length"),
            _noted("  kl_coef: 0.0", "0: no reference model"),
        ]
    lines += [
        "resources:",
        _noted("  provider: auto", "auto | local | skypilot | modal | runpod"),
        _noted("  max_total_usd: 5.00", "a hard cap: the run is stopped before it spends more"),
        "# tags: {cost_center: ml-research}   # finance's groupings: report --by tag:cost_center",
    ]
    text = "\n".join(lines) + "\n"
    JobSpec.model_validate(yaml.safe_load(text))
    return text


def _noted(line: str, comment: str) -> str:
    """A YAML line with its comment in one column."""
    return f"{line:<33} # {comment}" if comment else line
