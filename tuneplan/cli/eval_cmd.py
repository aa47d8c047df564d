"""``tuneplan eval RUN``: the base model and the fine-tuned one side by side on held-out prompts (sft, dpo), or
their task metric on the eval split (classify: accuracy and macro-F1; embed: retrieval), stored with the run.

Everything the models wrote is shown as plain text, cut to a few hundred characters: it is model output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from providers.plain_text import plain
from tuneplan.cli.output import console, styled
from tuneplan.cli.run_options import LEDGER_OPTION, clock, open_ledger

SHOWN_CHARS = 400


def evaluate(run: str = typer.Argument(..., metavar="RUN", help="The run id (or its start)."),
             prompts: Optional[Path] = typer.Option(None, "--prompts", help="Rows to ask instead of the eval split "
                                                    "(JSONL in the run's data format)."),
             limit: int = typer.Option(5, "--limit", min=1, max=100, help="Examples side by side."),
             max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, max=4096,
                                                help="The longest generated answer."),
             timeout: float = typer.Option(3600, "--timeout", min=10, help="Give up after this many seconds."),
             as_json: bool = typer.Option(False, "--json", help="Print the stored result (JSON)."),
             ledger: Optional[str] = LEDGER_OPTION) -> None:
    from remote_jobs.evaluate import evaluate_run

    book = open_ledger(ledger, clock()).checked().writable()
    record = book.find(run)
    if not as_json:
        console.print(f"evaluating {record.run_id} here: {record.task} · {record.method} · base {record.model} "
                      "(the base model is loaded here: a Hub model downloads once) …")
    done = evaluate_run(book, record, prompts, limit, max_new_tokens, timeout)
    if as_json:
        sys.stdout.write(json.dumps(done.result, indent=2) + "\n")
        return
    show(done.result)
    console.print(f"stored with the run: {done.path}")


def show(result: dict) -> None:
    """The task metrics (base → fine-tuned), then each example: prompt, expected, base, fine-tuned."""
    console.print(styled(("source", "bold"), f" {plain(result.get('source', ''), limit=200)} · device "
                         f"{plain(result.get('device', ''), limit=20)} · {result.get('wall_s', '-')} s"))
    metrics = {side: _flat(values) for side, values in (result.get("metrics") or {}).items() if isinstance(values, dict)}
    if metrics.get("base") or metrics.get("tuned"):
        table = Table()
        for column in ("metric", "base", "fine-tuned"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for name in dict.fromkeys([*(metrics.get("base") or {}), *(metrics.get("tuned") or {})]):
            table.add_row(plain(name, limit=60), *(_number((metrics.get(side) or {}).get(name)) for side in ("base", "tuned")))
        console.print(table)
    for number, example in enumerate(result.get("examples") or [], start=1):
        console.print(styled((f"example {number}", "bold")))
        for key, title in (("prompt", "prompt"), ("expected", "expected"), ("base", "base"), ("tuned", "fine-tuned")):
            text = plain(example.get(key, ""), keep_newlines=False, limit=SHOWN_CHARS)
            console.print(styled((f"  {title:<10}", "cyan" if key == "tuned" else "dim"), f" {text}"))


def _flat(values: dict, prefix: str = "") -> dict:
    """One row per number: a group of metrics (GRPO's reward per function) becomes ``rewards.format`` and so on."""
    out = {}
    for name, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"
