"""``tuneplan recommend``: the job flags of ``plan`` (or ``--spec``) plus deadline, budget, spot and
providers → every candidate ranked, as a table or the JSON of CONTRACTS §4.

Layering for the constraints: settings file < the spec's ``resources`` < flags. ``--gpus`` and
``--gpu`` (or the spec's ``resources.gpu``) restrict the candidates; without them every GPU count is
considered.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any, Optional

import typer

from planner.errors import BadInput
from tuneplan.cli.calibration_opts import CALIBRATION_OPTION, learned_corrections, summary
from tuneplan.cli.job_options import JobInputs, job_inputs, with_job_options
from tuneplan.cli.run_options import LEDGER_OPTION


@with_job_options
def recommend(
    job: dict,
    deadline_hours: Optional[float] = typer.Option(None, help="Finish within this many hours (wall-clock)."),
    max_usd: Optional[float] = typer.Option(None, help="Budget for the whole run, in USD."),
    spot: Optional[bool] = typer.Option(None, "--spot/--no-spot", help="Also consider spot/interruptible prices."),
    providers: Optional[str] = typer.Option(
        None, help="Only these, comma-separated: local, skypilot, runpod, modal, aws, gcp, azure, lambda."),
    top: int = typer.Option(12, help="Rows in the table (--json always has every candidate)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    calibration: bool = CALIBRATION_OPTION,
    ledger: Optional[str] = LEDGER_OPTION,
) -> None:
    from planner.recommend import Job, recommend as rank_candidates
    from providers.settings import load_settings
    from tuneplan.cli.choices import resolve_model

    settings = load_settings()
    inputs = job_inputs(job)
    constraints = _constraints(job, inputs, settings, deadline_hours, max_usd, spot, providers)
    model = resolve_model(inputs.model_name)
    inputs = inputs.for_model(model)
    learned = learned_corrections(ledger, calibration)
    result = rank_candidates(Job(model, inputs.setup, inputs.data), _prices(), _machine(settings), constraints,
                             date.today(), _electricity(settings), settings.prices.stale_after_days, learned)
    payload = result.to_json()
    applied = [c.calibration for c in result.candidates if c.calibration]
    payload["calibration"] = summary(calibration, applied, {})
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from tuneplan.cli.render_recommend import print_recommendation

    print_recommendation(payload, top)


def _prices():
    from providers.prices_refresh import current_prices

    return current_prices()


def _machine(settings):
    from providers.hardware import local_machine

    return local_machine(settings.hardware)


def _electricity(settings):
    from planner.recommend import Electricity

    given = "kwh_usd" in settings.electricity.model_fields_set
    return Electricity(settings.electricity.kwh_usd, "settings" if given else "assumed default", not given)


def _constraints(job: dict, inputs: JobInputs, settings, deadline: float | None, max_usd: float | None,
                 spot: bool | None, providers: str | None):
    from planner.recommend import Constraints

    resources = inputs.spec.resources if inputs.spec is not None else None
    for name, value in (("--deadline-hours", deadline), ("--max-usd", max_usd)):
        if value is not None and value <= 0:
            raise BadInput(f"{name} must be positive, got {value:g}")
    return Constraints(
        deadline_hours=deadline if deadline is not None else getattr(resources, "deadline_hours", None),
        max_usd=_usd(max_usd if max_usd is not None else getattr(resources, "max_total_usd", None)),
        max_usd_per_hour=_usd(getattr(resources, "max_usd_per_hour", None)),
        spot=_first(spot, _given(resources, "spot"), settings.recommend.spot),
        providers=_providers(providers, resources, settings),
        gpu_types=_gpu_types(job.get("gpu"), resources),
        gpu_counts=frozenset({job["gpus"]}) if "gpus" in job else None,
        sharding=inputs.setup.sharding if inputs.setup.sharding not in ("none", "ddp") else None,
        nodes=_nodes(job.get("nodes"), resources),
    )


def _nodes(flag: int | None, resources) -> frozenset[int] | None:
    """--nodes, else the spec's resources.nodes when it set one; else every count the launchers allow."""
    given = flag if flag is not None else _given(resources, "nodes")
    return frozenset({given}) if given is not None else None


def _given(section, name: str) -> Any:
    """A spec field only when the spec file set it (so the settings default can apply otherwise)."""
    return getattr(section, name) if section is not None and name in section.model_fields_set else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _usd(value: float | None):
    from decimal import Decimal

    return Decimal(str(value)) if value is not None else None


def _providers(flag: str | None, resources, settings) -> frozenset[str] | None:
    if flag is not None:
        names = [n.strip().lower() for n in flag.split(",") if n.strip()]
    elif resources is not None and resources.provider != "auto":
        names = [resources.provider]
    elif settings.recommend.providers:
        names = [n.lower() for n in settings.recommend.providers]
    else:
        return None
    from tuneplan.cli.prices_cmd import check_provider

    return frozenset(check_provider(name) for name in names)


def _gpu_types(flag: str | None, resources) -> frozenset[str] | None:
    from planner.catalog.gpus import find_gpu

    wanted = flag or (resources.gpu if resources is not None else "auto")
    if wanted == "auto" or not wanted:
        return None
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    return frozenset(find_gpu(name).name for name in names)
