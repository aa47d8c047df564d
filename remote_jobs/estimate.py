"""What a launch is expected to take and cost, and the hard runtime limit that follows from it.

Training jobs ask the planner (the same recommendation ``tuneplan recommend`` shows), restricted to the
chosen provider and the spec's GPU choice, and take the best candidate that fits and can be launched.
A smoke job has no model to plan: its time is steps × step_seconds, priced at the provider's cheapest
offer. The hard runtime limit is the estimate × a margin plus start-up slack, never more than the
budget buys (CONTRACTS §7).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from providers.base import Provider
from remote_jobs.resolve import ResolvedJob

RUNTIME_MARGIN = 3.0  # the limit is this many times the estimate ...
RUNTIME_SLACK_S = 600  # ... plus this much for start-up, downloads and the template's own checks
MIN_RUNTIME_S = 30
ESTIMATE_ERROR_MARGIN = 1.25  # a hard limit below estimate × this would likely cut the run short
SMOKE_OVERHEAD_S = 2.0  # a Python start and the writes of a smoke job


@dataclass(frozen=True)
class LaunchEstimate:
    """Where the run goes and what the planner expects of it there."""

    provider: str
    cloud: str
    region: str
    gpu: str
    gpus: int
    spot: bool
    device: str
    hours: float
    usd: Decimal
    usd_per_hour: Decimal
    peak_gib: float | None
    price_source: str
    price_as_of: str
    tokens: int
    offering: str = ""
    nodes: int = 1
    """Machines; ``gpus`` is per machine and ``usd_per_hour`` is for all of them."""
    sharding: str = "none"
    """The engine the estimate assumed on several GPUs (DDP, or FSDP where one GPU cannot hold the job)."""
    tokens_per_s: float | None = None
    """The training loop's speed the planner expects, before any correction (what a run's measurement is held to)."""
    uncalibrated_hours: float | None = None
    """The hours without the team's corrections, where a correction applied (None: none did)."""
    uncalibrated_usd: Decimal | None = None
    calibration: dict | None = None


def estimate_launch(job: ResolvedJob, provider: Provider, today: date,
                    prefer: Callable[[Any], bool] | None = None, corrections: dict | None = None) -> LaunchEstimate:
    """``corrections``: the team's (``remote_jobs.learned``); None reads them from the default ledger, ``{}`` is
    ``--no-calibration``."""
    if job.spec.task == "smoke":
        return _smoke_estimate(job, provider)
    if corrections is None:
        corrections = default_corrections(today)
    planned = _planned_estimate(job, provider.name, today, prefer, corrections)
    if planned.calibration is None:
        return planned
    plain = _planned_estimate(job, provider.name, today, _same_as(planned), {})
    return replace(planned, tokens_per_s=plain.tokens_per_s, uncalibrated_hours=plain.hours,
                   uncalibrated_usd=plain.usd)


def default_corrections(today: date) -> dict:
    """What the default ledger's runs teach (empty when there is none yet or it cannot be read)."""
    from datetime import datetime, timezone

    from remote_jobs.ledger import Ledger
    from remote_jobs.learned import corrections

    try:
        ledger = Ledger()
    except BadInput:
        return {}
    return corrections(ledger, datetime(today.year, today.month, today.day, tzinfo=timezone.utc))


def _same_as(estimate: LaunchEstimate) -> Callable[[Any], bool]:
    wanted = (estimate.cloud, estimate.gpu, estimate.gpus, estimate.spot, estimate.offering, estimate.nodes)
    return lambda c: (c.cloud, c.gpu, c.gpus, c.spot, c.offering, c.nodes) == wanted


def runtime_limit_s(estimate: LaunchEstimate, max_total_usd: Decimal | None, max_hours: float | None = None) -> int:
    """Seconds the remote side lets the job run: ``max_hours`` if given, else estimate × margin + slack;
    either way no longer than ``max_total_usd`` buys at the run's rate."""
    wanted = max_hours * 3600 if max_hours is not None else estimate.hours * 3600 * RUNTIME_MARGIN + RUNTIME_SLACK_S
    if max_hours is not None and wanted < MIN_RUNTIME_S:
        raise BadInput(f"--max-hours {max_hours:g} is {wanted:.0f} s; the shortest hard limit is {MIN_RUNTIME_S} s "
                       "(a machine needs that long to start and stop cleanly)")
    affordable = affordable_s(estimate, max_total_usd)
    if affordable is not None:
        wanted = min(wanted, affordable)
    return max(MIN_RUNTIME_S, int(wanted))


def affordable_s(estimate: LaunchEstimate, max_total_usd: Decimal | None) -> float | None:
    """Seconds ``max_total_usd`` buys at the run's rate (None without a cap or a rate)."""
    if max_total_usd is None or estimate.usd_per_hour <= 0:
        return None
    return float(max_total_usd / estimate.usd_per_hour * 3600)


def check_affordable(estimate: LaunchEstimate, max_total_usd: Decimal | None) -> None:
    """A launch whose budget buys less than the shortest hard limit is refused: the limit would otherwise be
    raised past what the money allows."""
    affordable = affordable_s(estimate, max_total_usd)
    if affordable is not None and affordable < MIN_RUNTIME_S:
        raise BadInput(f"max_total_usd ${max_total_usd} buys {affordable:.0f} s at ${estimate.usd_per_hour}/h; the "
                       f"shortest hard limit is {MIN_RUNTIME_S} s: raise resources.max_total_usd")


def check_limit_covers_estimate(estimate: LaunchEstimate, limit_s: int) -> None:
    """A hard limit (``--max-hours``, or what the budget buys) within the estimate's error of the run's time
    would most likely stop the run before it ends: billed, with nothing to show. Refused with the limit the
    run needs; ``--allow-over-budget`` launches it anyway."""
    needed = estimate.hours * 3600 * ESTIMATE_ERROR_MARGIN
    if limit_s < needed:
        raise BadInput(f"the hard limit of {limit_s:,} s is within the estimate's error of the run's "
                       f"{estimate.hours * 3600:,.0f} s (estimates are off by up to {ESTIMATE_ERROR_MARGIN - 1:.0%}): "
                       f"it would likely be stopped before it ends; allow at least {needed:,.0f} s "
                       f"(--max-hours {needed / 3600:.3g} or a larger resources.max_total_usd), or pass "
                       "--allow-over-budget")


def _smoke_estimate(job: ResolvedJob, provider: Provider) -> LaunchEstimate:
    offers = sorted(provider.offers(), key=lambda o: o.usd_per_hour)
    if not offers:
        raise BadInput(f"{provider.name} offers no machine to run on")
    offer = offers[0]
    steps = job.spec.training.max_steps or 5
    seconds = steps * job.spec.smoke.step_seconds + SMOKE_OVERHEAD_S
    hours = seconds / 3600
    return LaunchEstimate(provider.name, "local" if provider.name == "local" else provider.name, offer.region,
                          offer.gpu, offer.gpus, offer.spot, offer.gpu, hours,
                          (offer.usd_per_hour * Decimal(repr(hours))).quantize(Decimal("0.000001")),
                          offer.usd_per_hour, None, offer.source, offer.as_of, 0, offer.offering)


def top_option(job: ResolvedJob, today: date, corrections: dict | None = None) -> Any:
    """``resources.provider: auto``: the top-ranked option that fits and that a launcher here can run, across
    every launcher (the first row of ``tuneplan recommend`` that is launchable)."""
    result = _ranked(job, None, today, default_corrections(today) if corrections is None else corrections)
    usable = [c for c in result.candidates if c.fits and c.launchable]
    if not usable:
        why = next((c.why or c.reason for c in result.candidates), "no candidate at all")
        raise BadInput(f"{job.spec.name}: no launcher can run this job ({why})")
    return usable[0]


def _ranked(job: ResolvedJob, provider: str | None, today: date, corrections: dict | None = None):
    from planner.catalog.prices import STALE_AFTER_DAYS
    from planner.recommend import Job, recommend

    return recommend(Job(_model(job), _setup(job), data_size(job)), _prices(provider), _machine(),
                     _constraints(job, provider), today, _electricity(), STALE_AFTER_DAYS, corrections or {})


def _planned_estimate(job: ResolvedJob, provider: str, today: date,
                      prefer: Callable[[Any], bool] | None = None, corrections: dict | None = None) -> LaunchEstimate:
    """The provider's best-ranked candidate, or the one ``prefer`` picks (an option chosen in the TUI)."""
    spec = job.spec
    result = _ranked(job, provider, today, corrections)
    usable = [c for c in result.candidates if c.fits and c.launchable and c.provider == provider]
    if not usable:
        why = next((c.why or c.reason for c in result.candidates if c.provider == provider), "no candidate at all")
        raise BadInput(f"{spec.name}: nothing on {provider} can run this job ({why})")
    best = next((c for c in usable if prefer(c)), usable[0]) if prefer is not None else usable[0]
    side = _side_hours(job, result.job, best)
    hours = best.train_hours + side + best.cost.fixed_hours  # a local job's own start is in fixed_hours
    usd = ((best.cost.total + best.cost.usd_per_hour * Decimal(repr(side))).quantize(Decimal("0.000001"))
           if best.cost.total else (best.cost.usd_per_hour * Decimal(repr(hours))).quantize(Decimal("0.000001")))
    return LaunchEstimate(best.provider, best.cloud, best.region, best.gpu, best.gpus, best.spot, best.device,
                          hours, usd, best.cost.usd_per_hour,
                          best.peak_gib, best.price_source, best.price_as_of.isoformat(), int(result.job.data.tokens),
                          best.offering, best.nodes, best.sharding, best.tokens_per_s,
                          calibration=best.calibration)


def _side_hours(job: ResolvedJob, planned, best) -> float:
    """Hours of checkpoint saves and evaluations the spec asks for (``save_steps``, ``eval_steps`` with an eval
    set), beside training."""
    from planner.estimate.checkpoints import side_seconds

    t, r = job.spec.training, job.spec.resources
    world = max(1, r.cpu_processes or r.gpus) * r.nodes
    per_step = t.micro_batch_size * t.grad_accum * world
    steps = t.max_steps or math.ceil(planned.data.examples * planned.data.epochs / per_step)
    evaluation = next((i.source for i in job.inputs if i.role == "eval"), None)
    eval_rows = _measure(evaluation)[0] if evaluation is not None else None
    eval_tokens = (eval_rows or 0) * planned.data.avg_tokens
    seconds = side_seconds(planned.model.arch, planned.setup, steps, best.tokens_per_s, t.save_steps,
                           t.eval_steps if eval_rows else None, eval_tokens)
    return seconds / 3600


def _model(job: ResolvedJob):
    from planner.models import resolve_local, unknown_model

    resolved = resolve_local(job.model_source)
    if resolved is not None:
        return resolved
    from providers.hub import looks_like_hub_id, resolve_hub_model

    if not looks_like_hub_id(job.model_source):
        raise unknown_model(job.model_source)
    return resolve_hub_model(job.model_source)


def _setup(job: ResolvedJob):
    from planner.estimate.setup import setup_from_spec

    return setup_from_spec(job.spec)


def data_size(job: ResolvedJob):
    """The spec's figures; else counted from the local train file. ``training.max_steps`` decides the work on its
    own (more or fewer steps than the epochs would make), as it does in the trainer."""
    return spec_data_size(job.spec, next((i.source for i in job.inputs if i.role == "train"), None))


def spec_train_file(spec, spec_path: Path | str | None) -> Path | None:
    """The spec's local train file (relative to the spec, as a launch reads it), or None (a Hub dataset, none)."""
    train = str(spec.data.train or "")
    if not train or train.startswith("hub:"):
        return None
    path = Path(train).expanduser()
    if not path.is_absolute() and spec_path is not None:
        path = Path(spec_path).parent / path
    return path if path.is_file() else None


def spec_data_size(spec, train: Path | None):
    """``data_size`` from a spec and its train file: what ``plan --spec`` and ``recommend --spec`` size the job by,
    the same as the launch."""
    from planner.plan import DataSize

    examples, avg_tokens = spec.data.examples, spec.data.avg_tokens
    if train is not None and (examples is None or avg_tokens is None):
        from remote_jobs.data_inspect import counted_tokens

        counted = counted_tokens(train, spec.model)  # `tuneplan data inspect` counted them with the tokenizer
        if counted is None:
            rows, mean_bytes = _measure(train)
            counted = (rows, mean_bytes / 4)
        count, mean_tokens = counted
        examples = examples or count
        avg_tokens = avg_tokens or max(1, min(spec.training.seq_len, round(mean_tokens)))
    size = DataSize(examples=int(examples or DataSize.examples), avg_tokens=int(avg_tokens or DataSize.avg_tokens),
                    epochs=float(spec.training.epochs), assumed=examples is None or avg_tokens is None)
    if spec.training.max_steps:  # the trainer then runs exactly max_steps steps, cycling over the data if it must
        t, r = spec.training, spec.resources
        world = max(1, r.cpu_processes or r.gpus) * r.nodes
        steps_examples = t.max_steps * t.micro_batch_size * t.grad_accum * world
        if spec.task == "grpo":  # a step trains answers: num_generations of them per prompt
            steps_examples = max(1, steps_examples // spec.grpo.num_generations)
        size = DataSize(examples=steps_examples, avg_tokens=size.avg_tokens, epochs=1.0, assumed=size.assumed)
    return size


def _measure(path: Path) -> tuple[int | None, float]:
    """Rows and mean bytes per row of a jsonl/json/csv file (about 4 bytes make a token)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None, 0.0
    if path.suffix.lower() == ".json":
        try:
            rows = len(json.loads(text))
        except (ValueError, TypeError):
            return None, 0.0
    else:
        rows = sum(1 for line in text.splitlines() if line.strip()) - (1 if path.suffix.lower() == ".csv" else 0)
    return (rows, len(text.encode()) / rows) if rows and rows > 0 else (None, 0.0)


def _prices(provider: str | None):
    if provider == "local":
        return []
    from providers.prices_refresh import current_prices

    return current_prices()


def _machine():
    from providers.hardware import local_machine
    from providers.settings import load_settings

    return local_machine(load_settings().hardware)


def _electricity():
    from planner.recommend import Electricity
    from providers.settings import load_settings

    settings = load_settings()
    given = "kwh_usd" in settings.electricity.model_fields_set
    return Electricity(settings.electricity.kwh_usd, "settings" if given else "assumed default", not given)


def _constraints(job: ResolvedJob, provider: str | None):
    from planner.catalog.gpus import find_gpu
    from planner.recommend import Constraints

    r = job.spec.resources
    wanted = [] if r.gpu == "auto" else ([r.gpu] if isinstance(r.gpu, str) else list(r.gpu))
    gpu_types = frozenset(find_gpu(name).name for name in wanted) or None
    return Constraints(deadline_hours=r.deadline_hours, spot=r.spot,
                       providers=frozenset({provider}) if provider else None,
                       gpu_types=gpu_types, gpu_counts=frozenset({r.gpus}) if r.gpus > 1 else None,
                       max_usd_per_hour=Decimal(str(r.max_usd_per_hour)) if r.max_usd_per_hour else None,
                       nodes=frozenset({r.nodes}))  # the bundle starts exactly these machines: price exactly them
