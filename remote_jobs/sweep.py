"""Running a sweep: its points priced as one plan, then launched a few at a time and followed in turns.

Why one loop and no threads: every run's lifecycle (record, launch, watch, pull, tear down) already lives in
``launch.start`` and ``watch.Follower``; taking turns between followers keeps the ledger on one connection and
makes Ctrl-C mean one thing for the whole sweep. A run that fails to start or that the loop loses sight of does
not stop the others: it is said in its row, and a run still going stays in the ledger for ``watch``/``reap``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from planner.errors import BadInput
from planner.spec import JobSpec
from planner.sweep import SweepPoint, points
from providers.types import Bundle, RunState
from remote_jobs import finish
from remote_jobs.clock import Clock
from remote_jobs.events import EventSink, ignore
from remote_jobs.launch import LaunchRequest, choose_provider, prepare, start
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord
from remote_jobs.runids import new_run_id
from remote_jobs.watch import POLL_S, Follower

MAX_PARALLEL = 16
PARALLEL_REMOTE = 4  # at once on rented machines: each its own; a sweep is not a quota test
PARALLEL_HERE = 1  # on this machine runs would share its one GPU (or its CPUs) and each be slower


@dataclass
class SweepPlan:
    """Every point of a sweep with its launch decided (provider, GPU, price, run id): what one confirmation buys."""

    sweep_id: str
    points: list[SweepPoint]
    requests: list[LaunchRequest]
    parallel: int

    @property
    def total_usd(self) -> Decimal:
        return sum((r.estimate.usd for r in self.requests), Decimal(0))

    @property
    def run_hours(self) -> float:
        """The runs' hours added up (what is paid for)."""
        return sum(r.estimate.hours for r in self.requests)

    @property
    def wall_hours(self) -> float:
        """How long the sweep takes with ``parallel`` runs at once, each next run starting in the first free slot."""
        slots = [0.0] * max(1, min(self.parallel, len(self.requests)))
        for request in self.requests:
            slots[slots.index(min(slots))] += request.estimate.hours
        return max(slots)


@dataclass
class SweepOutcome:
    """How one point ended: its final record, or why it has none (never started, still running when left)."""

    point: SweepPoint
    request: LaunchRequest
    record: RunRecord | None = None
    problem: str = ""


@dataclass
class SweepResult:
    outcomes: list[SweepOutcome] = field(default_factory=list)

    @property
    def all_succeeded(self) -> bool:
        return all(o.record is not None and o.record.state == RunState.SUCCEEDED for o in self.outcomes)


def prepare_sweep(spec: JobSpec, spec_path: Path | None, provider_flag: str | None, clock: Clock,
                  max_hours: float | None, corrections: dict | None, parallel: int | None = None) -> SweepPlan:
    """Price every point (nothing starts): each as ``launch`` would, its provider chosen as the spec says.
    ``parallel``: runs at once (default: one at a time here, ``PARALLEL_REMOTE`` on rented machines)."""
    from providers.registry import get_provider

    if parallel is not None and not 1 <= parallel <= MAX_PARALLEL:
        raise BadInput(f"--parallel must be 1-{MAX_PARALLEL}, got {parallel}")
    sweep_id = new_run_id(spec.name, clock.now())
    chosen = points(spec, sweep_id)
    requests = []
    for point in chosen:
        choice = choose_provider(point.spec, spec_path, provider_flag, clock, corrections)
        request = prepare(point.spec, spec_path, get_provider(choice.name), clock, max_hours, prefer=choice.prefer,
                          corrections=corrections)
        request.overrides = {"sweep": {"id": sweep_id, "point": point.number, "values": point.values}}
        requests.append(request)
    if parallel is None:
        parallel = PARALLEL_HERE if all(r.provider.name == "local" for r in requests) else PARALLEL_REMOTE
    return SweepPlan(sweep_id, chosen, requests, parallel)


def check_team_budget(plan: SweepPlan, ledger: Ledger, allow_over_budget: bool) -> None:
    """A team budget must take the whole sweep's estimate, not each run alone (N runs that each fit can
    overdraw it together). ``start`` checks every run again as it is recorded."""
    from remote_jobs.team_budgets import budget_guard

    spec = plan.requests[0].job.spec
    draft = RunRecord(run_id=plan.sweep_id, project=spec.project, owner=spec.owner, estimate_usd=plan.total_usd,
                      created_at=ledger.clock.now())
    ledger.transact(budget_guard(ledger, draft, allow_over_budget))


def run_sweep(plan: SweepPlan, bundles: list[Bundle], ledger: Ledger, clock: Clock, runs_root: Path,
              on_event: EventSink = ignore, on_interrupt: Callable[[], bool] = lambda: True,
              poll_s: float = POLL_S) -> SweepResult:
    """Start up to ``plan.parallel`` runs, follow them in turns, start the next as one ends; returns every
    point's outcome. Ctrl-C: ``on_interrupt()`` True stops the running ones (checkpoints kept) and starts no
    more; False leaves them running under their hard limits. Either way the points not started never start."""
    outcomes = [SweepOutcome(point, request) for point, request in zip(plan.points, plan.requests, strict=True)]
    waiting = list(zip(outcomes, bundles, strict=True))
    following: list[tuple[SweepOutcome, Follower]] = []
    due: dict[str, datetime] = {}
    try:
        while waiting or following:
            while waiting and len(following) < plan.parallel:
                outcome, bundle = waiting.pop(0)
                follower = _start(outcome, bundle, ledger, clock, runs_root, on_event, poll_s)
                if follower is not None:
                    following.append((outcome, follower))
                    due[outcome.request.run_id] = clock.now()
            for outcome, follower in list(following):
                if clock.now() < due[outcome.request.run_id]:
                    continue
                if _look(outcome, follower):
                    following.remove((outcome, follower))
                else:
                    due[outcome.request.run_id] = clock.now() + timedelta(seconds=follower.wait_s)
            if following and not (waiting and len(following) < plan.parallel):
                soonest = min(due[o.request.run_id] for o, _ in following)
                clock.sleep(max(0.0, (soonest - clock.now()).total_seconds()))
    except KeyboardInterrupt:
        _interrupted(outcomes, following, waiting, on_interrupt)
        for outcome in outcomes:  # one interrupted while it launched: ``start`` recorded and tore it down
            if outcome.record is None and not outcome.problem:
                outcome.record = ledger.get(outcome.request.run_id)
                outcome.problem = "interrupted while it launched; torn down"
    return SweepResult(outcomes)


def _start(outcome: SweepOutcome, bundle: Bundle, ledger: Ledger, clock: Clock, runs_root: Path,
           on_event: EventSink, poll_s: float) -> Follower | None:
    """Launch one point; a launch that fails is that point's problem (``start`` has recorded and torn it down)."""
    try:
        run = start(outcome.request, bundle, ledger, clock, runs_root, on_event)
    except Exception as exc:  # noqa: BLE001 - one point's failed launch must not abandon the running others
        outcome.record = ledger.get(outcome.request.run_id)
        outcome.problem = f"did not start: {' '.join(str(exc).split())[:300] or type(exc).__name__}"
        return None
    return Follower(run, poll_s)


def _look(outcome: SweepOutcome, follower: Follower) -> bool:
    """One look at one run; True when it is done with (ended, or lost sight of and left to ``tuneplan watch``)."""
    try:
        record = follower.poll()
    except Exception as exc:  # noqa: BLE001 - the others go on; this run stays in the ledger, unfinished
        outcome.record = follower.run.refresh()
        outcome.problem = (f"lost sight of it ({' '.join(str(exc).split())[:200]}); "
                           f"`tuneplan watch {outcome.request.run_id}` follows it again")
        return True
    if record is None:
        return False
    outcome.record = record
    return True


def _interrupted(outcomes, following, waiting, on_interrupt) -> None:
    stop = _asked(on_interrupt)
    for outcome, follower in following:
        if stop:
            outcome.record = finish.stop(follower.run, RunState.CANCELLED, "interrupted (Ctrl-C); the sweep was "
                                         "stopped and the run torn down")
        else:
            outcome.record = follower.run.refresh()
            outcome.problem = f"left running; `tuneplan watch {outcome.request.run_id}` follows it"
    for outcome, _ in waiting:
        outcome.problem = "not started (the sweep was interrupted)"


def _asked(on_interrupt: Callable[[], bool]) -> bool:
    try:
        return on_interrupt()
    except (KeyboardInterrupt, EOFError):
        return False
