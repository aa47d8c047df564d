"""Launching: everything up to the moment the provider holds a machine for us, in this order:

estimate → (the front end shows the plan and asks) → refuse when over budget → run the template's own
``--validate-only`` here when the data is local → bundle → record the run in the ledger → launch →
record the handle at once.

``prepare`` decides and pays for nothing; ``start`` is where money begins to flow, and the ledger row
exists before the provider is called, so a crash can never leave an unrecorded machine running.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from planner.spec import JobSpec
from providers.base import Provider
from providers.identity import host_id
from providers.types import Bundle, LaunchPlan, RunState
from remote_jobs import failpoints
from remote_jobs.active import ActiveRun
from remote_jobs.bundle import build_bundle
from remote_jobs.distributed import shape_of
from remote_jobs.clock import Clock
from remote_jobs.estimate import (LaunchEstimate, check_affordable, check_limit_covers_estimate, estimate_launch,
                                  runtime_limit_s)
from remote_jobs.events import EventSink, ignore
from remote_jobs.ledger import Ledger
from remote_jobs.money import dollars
from remote_jobs.overheads import with_overheads
from remote_jobs.records import RunRecord
from remote_jobs.resolve import ResolvedJob, resolve_job
from remote_jobs.runids import new_run_id

VALIDATE_TIMEOUT_S = 600


@dataclass
class LaunchRequest:
    """A launch, decided but not started: what runs where, for how much, and what leaves this machine."""

    job: ResolvedJob
    provider: Provider
    estimate: LaunchEstimate
    run_id: str
    plan: LaunchPlan
    max_total_usd: Decimal | None
    destination: str
    notes: list[str] = field(default_factory=list)
    overrides: dict = field(default_factory=dict)  # what the command line changed of the spec, for the ledger
    resumed_from: str = ""
    allow_over_budget: bool = False  # --allow-over-budget: a cap or a team budget is overridden on purpose

    @property
    def over_budget(self) -> bool:
        return self.max_total_usd is not None and self.estimate.usd > self.max_total_usd

    @property
    def outgoing(self) -> list[tuple[str, str, int]]:
        """(role, local path, bytes) of every local file or folder that travels in the bundle."""
        return [(i.role, str(i.source), i.bytes) for i in self.job.inputs]


@dataclass(frozen=True)
class ProviderChoice:
    """Which launcher runs the job, and for ``auto`` which of its offers (``prefer``) and why (``said``)."""

    name: str
    prefer: Callable[[Any], bool] | None = None
    said: str = ""


def choose_provider(spec: JobSpec, spec_path: Path | None, flag: str | None, clock: Clock,
                    corrections: dict | None = None) -> ProviderChoice:
    """The flag, else the spec's ``resources.provider``. ``auto`` takes the top-ranked option that fits and that
    a launcher here can run (the first launchable row of ``tuneplan recommend``); a smoke job, with no model
    to rank, runs here."""
    name = flag or spec.resources.provider
    if name != "auto":
        return ProviderChoice(name)
    if spec.task == "smoke":
        return ProviderChoice("local", None, "provider auto: a smoke job runs here (local)")
    from remote_jobs.estimate import top_option

    best = top_option(resolve_job(spec, spec_path), clock.now().date(), corrections)
    wanted = (best.cloud, best.gpu, best.gpus, best.spot, best.offering, best.nodes)
    return ProviderChoice(best.provider, lambda c: (c.cloud, c.gpu, c.gpus, c.spot, c.offering, c.nodes) == wanted,
                          f"provider auto: the top-ranked option that fits and can launch is {best.device} on "
                          f"{best.provider} (tuneplan recommend lists the others)")


def prepare(spec: JobSpec, spec_path: Path | None, provider: Provider, clock: Clock,
            max_hours: float | None = None, prefer=None, corrections: dict | None = None) -> LaunchRequest:
    """Resolve the job, estimate it on ``provider`` and name the run; nothing is started or written.
    ``corrections``: the team's past runs' (None: the default ledger's; ``{}``: none, ``--no-calibration``)."""
    job = resolve_job(spec, spec_path)
    estimate = estimate_launch(job, provider, clock.now().date(), prefer, corrections)
    machine_rate = estimate.usd_per_hour  # the plan caps the machine's own rate; the record charges the overheads too
    estimate = with_overheads(estimate, provider.overheads(estimate.spot))
    cap = dollars(spec.resources.max_total_usd)
    run_id = new_run_id(spec.name, clock.now())
    plan = LaunchPlan(run_id=run_id, owner=spec.owner, host=host_id(), project=spec.project,
                      max_runtime_s=runtime_limit_s(estimate, cap, max_hours), gpu=estimate.gpu, gpus=estimate.gpus,
                      spot=estimate.spot, region=estimate.region, secrets=tuple(spec.secrets),
                      usd_per_hour=machine_rate, offering=estimate.offering, nodes=estimate.nodes,
                      gpu_choices=_gpu_choices(estimate.gpu, spec.resources.gpu), image=spec.resources.image or "")
    request = LaunchRequest(job, provider, estimate, run_id, plan, cap, provider.destination(plan))
    request.notes += _secret_notes(spec)
    if spec.resources.image:
        request.notes.append(f"image {spec.resources.image}: its packages are used as they are (nothing is pip-"
                             "installed at launch)" if provider.name != "local" else
                             "resources.image is for rented machines: a local run uses this Python")
    _refuse_gated(job, spec)
    return request


def refuse_over_budget(request: LaunchRequest, allow: bool) -> None:
    request.allow_over_budget = allow
    if request.over_budget and not allow:
        raise BadInput(f"the estimate ${request.estimate.usd} exceeds max_total_usd ${request.max_total_usd}; "
                       "raise resources.max_total_usd or pass --allow-over-budget")
    check_affordable(request.estimate, request.max_total_usd)  # even with --allow-over-budget
    if not allow:
        check_limit_covers_estimate(request.estimate, request.plan.max_runtime_s)


def check_team_budget(request: LaunchRequest, ledger: Ledger) -> None:
    """Refuse early, before anything is bundled, when a team budget in the ledger cannot take this run's estimate.
    (``start`` checks again, race-free, in the transaction that records the run.)"""
    from remote_jobs.team_budgets import budget_guard

    spec = request.job.spec
    draft = RunRecord(run_id=request.run_id, project=spec.project, owner=spec.owner, estimate_usd=request.estimate.usd,
                      created_at=ledger.clock.now())
    ledger.transact(budget_guard(ledger, draft, request.allow_over_budget))


def bundle_and_validate(request: LaunchRequest, runs_root: Path, validate: bool = True,
                        build: Callable[[Path], Bundle] | None = None) -> Bundle:
    """Build the bundle in ``runs/<id>/bundle`` (with ``build``, else from the job) and, when the data is local,
    run the template's own check in it. A bundle the check refuses (or that fails to build) is removed: no
    run folder is left without a ledger row."""
    folder = runs_root / request.run_id
    try:
        shape = shape_of(request.job.spec, request.plan.gpus or None, request.estimate.sharding)
        bundle = (build or (lambda root: build_bundle(request.job, request.run_id, root, shape)))(folder / "bundle")
        if validate and (request.job.local_data or request.job.spec.task == "smoke"):
            note = validate_locally(bundle, request.provider.name == "local")
            if note:
                request.notes.append(note)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return bundle


def validate_locally(bundle: Bundle, strict: bool) -> str | None:
    """``<template> --validate-only`` in the bundle: a bad job fails here, before anything is paid for.

    A missing ML library here only matters when the job is to run here (``strict``); a remote machine
    installs its own from requirements.txt.
    """
    command = [sys.executable, str(bundle.root / bundle.entrypoint), *bundle.args, "--validate-only"]
    try:
        done = subprocess.run(command, cwd=bundle.root, capture_output=True, text=True, timeout=VALIDATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"the template's own check did not finish in {VALIDATE_TIMEOUT_S} s; launching without it"
    if done.returncode == 0:
        return None
    error = _error_line(done.stderr) or f"exit code {done.returncode}"
    if "No module named" in error and not strict:
        return f"could not check the job here ({error}); the remote machine installs requirements.txt"
    if "cannot load its tokenizer/config" in error and not strict:  # a Hub model this machine cannot reach
        return (f"could not load the model here to check the job ({error[:200]}); the remote machine downloads "
                "it (a wrong model id fails there, at the first minute)")
    raise BadInput(f"the {bundle.task} template refused this job: {error}")


def start(request: LaunchRequest, bundle: Bundle, ledger: Ledger, clock: Clock, runs_root: Path,
          on_event: EventSink = ignore) -> ActiveRun:
    """Record the run, launch it, record its handle: the three steps that must never be reordered."""
    from remote_jobs.team_budgets import budget_guard

    record = _record(request, bundle, runs_root)
    record.created_at = ledger.clock.now()
    overdrawn: list[str] = []
    try:
        ledger.create(record, before=budget_guard(ledger, record, request.allow_over_budget, overdrawn.append))
    except BaseException:
        if ledger.get(record.run_id) is None:  # refused (a team budget, the ledger): no row, so no run folder
            shutil.rmtree(runs_root / request.run_id, ignore_errors=True)
        raise
    for note in overdrawn:
        ledger.update(record.run_id, message=note)
    note_ledger(runs_root / request.run_id, request.run_id, ledger.identity)
    run = ActiveRun(ledger, request.provider, record, clock, runs_root, on_event)
    failpoints.reached("recorded")
    launched_at = clock.now()  # billing starts during the call, not when it returns
    try:  # called once, never retried: a launch that timed out may still have made a machine (reap finds it)
        handle = request.provider.launch(bundle, request.plan)
    except KeyboardInterrupt:
        _abandon(run, RunState.CANCELLED, "interrupted (Ctrl-C) during the launch; torn down")
        raise
    except BaseException as exc:
        _abandon(run, RunState.FAILED, f"launch failed: {' '.join(str(exc).split()) or type(exc).__name__}")
        raise
    failpoints.reached("launched")
    run.update(message=f"launched on {handle.provider} as {handle.resource_id}", handle=handle,
               state=RunState.PROVISIONING, started_at=launched_at)
    return run


RUN_NOTE = "run.json"


def note_ledger(run_dir: Path, run_id: str, ledger_identity: str) -> None:
    """``runs/<id>/run.json`` says which ledger knows the run, so ``reap`` (with whatever ledger it is given)
    never mistakes a run another ledger on this machine knows for an orphan."""
    import json

    from providers.private_files import write_private_text

    write_private_text(run_dir / RUN_NOTE, json.dumps({"run_id": run_id, "ledger": ledger_identity}))


def note_dry_run(run_dir: Path, run_id: str) -> None:
    """A dry run's bundle stays (its task file points at it) with no ledger row; ``tuneplan gc`` lists it."""
    import json

    from providers.private_files import write_private_text

    write_private_text(run_dir / RUN_NOTE, json.dumps({"run_id": run_id, "dry_run": True}))


def _abandon(run: ActiveRun, state: RunState, reason: str) -> None:
    """A launch that did not return a handle: end whatever it may have started, and record why."""
    from remote_jobs import finish

    finish.close(run, state, reason)


def _record(request: LaunchRequest, bundle: Bundle, runs_root: Path) -> RunRecord:
    spec, est = request.job.spec, request.estimate
    return RunRecord(
        run_id=request.run_id, name=spec.name, project=spec.project, owner=spec.owner, host=request.plan.host,
        task=spec.task, method=spec.method, model=spec.model, provider=request.provider.name, cloud=est.cloud,
        region=est.region, gpu=est.gpu, gpus=est.gpus, spot=est.spot, price_usd_per_hour=est.usd_per_hour,
        price_source=est.price_source, price_as_of=est.price_as_of, state=RunState.PENDING,
        estimate_hours=round(est.hours, 6), estimate_usd=est.usd, estimate_peak_gib=est.peak_gib,
        max_total_usd=request.max_total_usd, max_runtime_s=request.plan.max_runtime_s,
        spec_path=str(request.job.spec_path or ""), runs_dir=str(runs_root / request.run_id),
        bundle_sha256=bundle.sha256, resumed_from=request.resumed_from, tuneplan_version=_version(),
        overrides=request.overrides or None, tags=dict(spec.tags) or None, stack=spec.training.stack,
        estimate_tokens_per_s=est.tokens_per_s, uncalibrated_hours=est.uncalibrated_hours,
        uncalibrated_usd=est.uncalibrated_usd, calibration=est.calibration)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tuneplan")
    except PackageNotFoundError:
        return "unknown"


def _gpu_choices(chosen: str, wanted: str | list[str]) -> tuple[str, ...]:
    """The estimate's GPU first, then every other GPU the spec accepts (``resources.gpu`` as a list)."""
    from planner.catalog.gpus import find_gpu

    names = [] if wanted == "auto" else [wanted] if isinstance(wanted, str) else list(wanted)
    others = [find_gpu(name).name for name in names if name != "auto"]
    return tuple(dict.fromkeys([chosen, *others])) if chosen and chosen != "cpu" else tuple(dict.fromkeys(others))


def _secret_notes(spec: JobSpec) -> list[str]:
    import os

    missing = [name for name in spec.secrets if not os.environ.get(name)]
    return [f"secret {name} is named in the spec but not set in this environment" for name in missing]


def _refuse_gated(job: ResolvedJob, spec: JobSpec) -> None:
    """A gated model cannot be downloaded without a token (CONTRACTS §6): refuse before paying for a machine."""
    import os

    from planner.catalog.models import find_catalog_model

    entry = find_catalog_model(spec.model)
    if entry is not None and entry.gated and not ("HF_TOKEN" in spec.secrets and os.environ.get("HF_TOKEN")):
        raise BadInput(f"{spec.model} is gated on the Hugging Face Hub: add HF_TOKEN to secrets and set it "
                       "in the environment")


def _error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return lines[-1][:300] if lines else ""
