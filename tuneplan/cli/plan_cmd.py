"""``tuneplan plan``: flags (or a job spec) → a memory/time estimate, as a table or JSON.

The job flags and ``--spec`` handling (defaults < spec < flags) are shared with ``recommend`` through
``tuneplan.cli.job_options``.
"""

from __future__ import annotations

import json
import sys

from typing import Optional

import typer

from planner.errors import BadInput
from planner.plan import make_plan
from tuneplan.cli.calibration_opts import CALIBRATION_OPTION, learned_corrections, summary
from tuneplan.cli.choices import resolve_gpus, resolve_model
from tuneplan.cli.run_options import LEDGER_OPTION
from tuneplan.cli.job_options import job_inputs, with_job_options


DEFAULT_CONTEXT = 4096


@with_job_options
def plan(
    job: dict,
    inference: bool = typer.Option(False, "--inference", help="Also estimate serving memory and tokens/s."),
    context: Optional[int] = typer.Option(None, help="Context length for --inference (default 4096, or the "
                                                     "model's limit when smaller)."),
    trace: bool = typer.Option(False, "--trace", help="Trace one real training step on the meta device (needs the train extra)."),
    max_fit: bool = typer.Option(False, "--max-fit", help="Also search the largest micro-batch and sequence length "
                                 "that fit each card."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    calibration: bool = CALIBRATION_OPTION,
    ledger: Optional[str] = LEDGER_OPTION,
) -> None:
    if context is not None and context <= 0:
        raise BadInput(f"--context must be positive, got {context}")
    inputs = job_inputs(job)
    resolved = resolve_model(inputs.model_name)
    context = _serving_context(resolved, context)
    inputs = inputs.for_model(resolved)
    setup = inputs.setup
    gpu_list = resolve_gpus(job.get("gpu"))
    learned = learned_corrections(ledger, calibration)
    result = make_plan(resolved, setup, inputs.data, gpu_list, context if inference else None, max_fit, learned)
    if inputs.spec is not None and inputs.spec._import_notes:
        from dataclasses import replace

        result = replace(result, notes=inputs.spec._import_notes + result.notes)
    payload = result.to_json()
    _with_calibration(payload, resolved, inputs, learned, calibration)
    if inputs.spec is not None and inputs.spec.sweep:
        from planner.sweep import size

        payload["notes"].append(f"the spec sweeps {size(inputs.spec.sweep)} runs ({', '.join(inputs.spec.sweep)}): "
                                "these figures are one run with the spec's own values; `tuneplan launch SPEC "
                                "--dry-run` prices every point and the total")
    if trace:
        from tuneplan.cli.trace_cmd import trace_payload

        payload["trace"] = trace_payload(resolved, setup)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from tuneplan.cli.render_plan import print_plan

    print_plan(payload)


def _with_calibration(payload: dict, resolved, inputs, learned: dict, enabled: bool) -> None:
    """This machine's own estimate (``local``: the recommender's local options) and the ``calibration`` block."""
    from datetime import date

    from planner.recommend import Constraints, Job, recommend
    from providers.settings import load_settings
    from tuneplan.cli.recommend_cmd import _electricity, _machine

    settings = load_settings()
    found = recommend(Job(resolved, inputs.setup, inputs.data), [], _machine(settings),
                      Constraints(providers=frozenset({"local"})), date.today(), _electricity(settings),
                      corrections=learned)
    payload["local"] = [{"device": c.device, "gpu": c.gpu, "fits": c.fits, "hours": round(c.hours, 4),
                         "tokens_per_s": round(c.tokens_per_s, 1), "calibration": c.calibration}
                        for c in found.candidates]
    applied = [c.calibration for c in found.candidates if c.calibration]
    applied += [fit["calibration"] for fit in payload["fits"].values() if "calibration" in fit]
    uncalibrated = {name: fit["calibration"]["uncalibrated_hours"] for name, fit in payload["fits"].items()
                    if "calibration" in fit}
    if any(c.calibration for c in found.candidates):
        plain = recommend(Job(resolved, inputs.setup, inputs.data), [], _machine(settings),
                          Constraints(providers=frozenset({"local"})), date.today(), _electricity(settings))
        uncalibrated.update({f"local {c.gpu}": round(c.hours, 4) for c in plain.candidates})
    payload["calibration"] = summary(enabled, applied, uncalibrated)
    payload["notes"] += [line for line in payload["calibration"].get("corrections", [])]


def _serving_context(model, given: int | None) -> int:
    """The serving context: the one given (refused past the model's position limit), else 4,096 or the
    model's limit when that is smaller (BERT reads 512)."""
    arch = model.arch
    if given is None:
        return min(DEFAULT_CONTEXT, arch.max_positions) if arch.positions_known else DEFAULT_CONTEXT
    if arch.positions_known and given > arch.max_positions:
        raise BadInput(f"{model.model_id} reads at most {arch.max_positions:,} tokens (max_position_embeddings); "
                       f"--context {given:,} is beyond it")
    return given
