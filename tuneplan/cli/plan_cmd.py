"""``tuneplan plan``: flags (or a job spec) → a memory/time estimate, as a table or JSON.

The job flags and ``--spec`` handling (defaults < spec < flags) are shared with ``recommend`` through
``tuneplan.cli.job_options``.
"""

from __future__ import annotations

import json
import sys

import typer

from planner.errors import BadInput
from planner.plan import make_plan
from tuneplan.cli.choices import resolve_gpus, resolve_model
from tuneplan.cli.job_options import job_inputs, with_job_options


@with_job_options
def plan(
    job: dict,
    inference: bool = typer.Option(False, "--inference", help="Also estimate serving memory and tokens/s."),
    context: int = typer.Option(4096, help="Context length for --inference."),
    trace: bool = typer.Option(False, "--trace", help="Trace one real training step on the meta device (needs the train extra)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    if context <= 0:
        raise BadInput(f"--context must be positive, got {context}")
    inputs = job_inputs(job)
    resolved = resolve_model(inputs.model_name)
    inputs = inputs.for_model(resolved)
    setup = inputs.setup
    gpu_list = resolve_gpus(job.get("gpu"))
    result = make_plan(resolved, setup, inputs.data, gpu_list, context if inference else None)
    payload = result.to_json()
    if trace:
        from tuneplan.cli.trace_cmd import trace_payload

        payload["trace"] = trace_payload(resolved, setup)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from tuneplan.cli.render_plan import print_plan

    print_plan(payload)
