"""``tuneplan data inspect SPEC``: what the job's training data looks like to the model, before paying for a
machine (``remote_jobs.data_inspect`` does the reading and counting)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

data_app = typer.Typer(help="Look at a job's training data before paying for a machine.", no_args_is_help=True,
                       add_completion=False, rich_markup_mode=None)


@data_app.command("inspect", help="Rows, token counts with the model's tokenizer, truncation at seq_len, padding "
                  "and packing efficiency, two examples with the loss marked, and problems.")
def inspect(
    spec: Path = typer.Argument(..., help="The job spec (YAML) whose data.train to read."),
    examples: int = typer.Option(2, "--examples", min=0, max=10, help="Examples to show with the loss marked."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    from planner.spec import load_spec
    from remote_jobs.data_inspect import LOSS_CLOSE, LOSS_OPEN, inspect_spec
    from tuneplan.cli.output import console

    result = inspect_spec(load_spec(spec), spec, examples)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731 - one-line printer
    d = result.distribution()
    say(f"{result.path}: {result.rows:,} rows, format {result.format}, tokenizer {result.tokenizer}")
    if d:
        say(f"tokens per row: min {d['min']:,}, median {d['p50']:,}, p90 {d['p90']:,}, p99 {d['p99']:,}, "
            f"max {d['max']:,} (mean {d['mean']:,}) over {result.counted:,} rows")
        share = result.truncated / len(result.lengths) * 100
        if result.format == "prompt-answer":  # GRPO: prompts that do not fit are left out, answers are generated
            say(f"prompts longer than grpo.max_prompt_length {result.seq_len:,} (left out): {result.truncated:,} "
                f"rows ({share:.1f} %)")
        else:
            say(f"truncated at seq_len {result.seq_len:,}: {result.truncated:,} rows ({share:.1f} %)")
            say(f"real tokens in a batch of {result.micro_batch} padded to its longest row: "
                f"{result.padding_efficiency()} %; with packing: {result.packing_efficiency()} %")
    if result.labels:
        say("labels: " + ", ".join(f"{label} {n}" for label, n in sorted(result.labels.items())))
    for number, text in enumerate(result.examples, 1):
        say(f"example {number} (the loss is on {LOSS_OPEN}…{LOSS_CLOSE}):")
        say(f"  {text}")
    if result.problems:
        more = result.problem_count - len(result.problems)
        say(f"{result.problem_count} problem(s):" + (f" (the first {len(result.problems)})" if more else ""))
        for problem in result.problems:
            say(f"  {problem}")
    else:
        say("no problems found")
    for note in result.notes:
        say(f"note: {note}")
