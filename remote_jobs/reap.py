"""``reap``: find machines the ledger says should be gone (or does not know), and runs whose story a crash
cut short, and end them.

It compares what each provider holds (``list_resources``: our ``tp-`` prefix, found by tag) with the
ledger. It acts only on resources carrying this owner's and this host's tags; anything else with our
prefix is listed, never touched, unless ``all_owners`` (CONTRACTS §7). Without ``yes`` it only reports.

Verdicts, and what acting on them does:
- orphan: no ledger on this machine knows it (not this ledger, and no run folder names another) → tear down
  (the CLI asks first: it cannot place it);
- elsewhere: another ledger on this machine knows it (its run folder says which) → left alone;
- finished: the ledger has an outcome but the machine is still there → tear down, record it;
- unpulled: the job ended but no outcome is recorded (the CLI died) → pull, verify, record, tear down;
- lost: the ledger thinks it runs but the provider has nothing → record what is known;
- untidy: finished, no machine, teardown never recorded → record it;
- active / launching / foreign: left alone (``tuneplan watch RUN`` re-attaches to an active run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from providers.base import Provider
from providers.types import ProviderError, Resource
from remote_jobs import finish, watch
from remote_jobs.active import ActiveRun
from remote_jobs.clock import Clock
from remote_jobs.events import EventSink, ignore
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord

ACTIONABLE = ("orphan", "finished", "unpulled", "lost", "untidy")
STALE_LAUNCH = timedelta(minutes=5)  # a run without a machine younger than this may still be launching


@dataclass(frozen=True)
class ReapItem:
    provider: str
    run_id: str
    verdict: str
    why: str
    resource: Resource | None = None
    record: RunRecord | None = None

    @property
    def actionable(self) -> bool:
        return self.verdict in ACTIONABLE


def survey(ledger: Ledger, providers: list[Provider], owner: str, host: str, all_owners: bool,
           clock: Clock, runs_root: Path | None = None) -> list[ReapItem]:
    """What every provider holds and every unfinished ledger run, each with a verdict. ``runs_root`` holds a
    folder for every run launched from this machine, whatever its ledger: a resource with one is not an orphan."""
    items: list[ReapItem] = []
    for provider in providers:
        try:
            resources = provider.list_resources()
        except ProviderError as exc:  # say so, and judge none of its runs "lost" on no evidence
            items.append(ReapItem(provider.name, "-", "unchecked", f"could not list: {' '.join(str(exc).split())}"))
            continue
        seen = {r.run_id for r in resources}
        items += [_judge_resource(ledger, provider.name, r, owner, host, all_owners, runs_root)
                  for r in resources if r.ours]
        items += _judge_records(ledger, provider.name, seen, host, all_owners, clock)
    return items


def act(item: ReapItem, ledger: Ledger, provider: Provider, clock: Clock, runs_root: Path,
        on_event: EventSink = ignore) -> str:
    """Do what the verdict calls for; returns what was done, in words."""
    if item.verdict == "orphan":
        provider.teardown(item.resource.handle)
        return "torn down"
    run = ActiveRun(ledger, provider, item.record, clock, runs_root, on_event)
    if item.verdict in ("finished", "untidy"):
        finish.teardown(run)
        return "torn down" if item.verdict == "finished" else "teardown recorded"
    record = watch.watch(run, poll_s=0.2)
    return f"finished as {record.state.value}"


def _judge_resource(ledger: Ledger, provider: str, resource: Resource, owner: str, host: str,
                    all_owners: bool, runs_root: Path | None) -> ReapItem:
    record = ledger.get(resource.run_id)
    if not (all_owners or resource.owned_by(owner, host)):
        tags = ", ".join(f"{k}={v}" for k, v in sorted(resource.tags.items()) if k.startswith("tuneplan-o")
                         or k.startswith("tuneplan-h"))
        return ReapItem(provider, resource.run_id, "foreign", f"not this owner/host ({tags}); --all-owners to end it",
                        resource, record)
    if record is None:
        known = _known_elsewhere(runs_root, resource.run_id, ledger.identity)
        if known:
            return ReapItem(provider, resource.run_id, "elsewhere", known, resource)
        return ReapItem(provider, resource.run_id, "orphan", "no ledger on this machine knows it", resource)
    if record.finished:
        return ReapItem(provider, resource.run_id, "finished", f"the ledger says {record.state.value}", resource, record)
    if resource.state.terminal:
        return ReapItem(provider, resource.run_id, "unpulled",
                        f"ended ({resource.state.value}) but never pulled or recorded", resource, record)
    return ReapItem(provider, resource.run_id, "active", f"{resource.state.value}: tuneplan watch {resource.run_id} "
                    "to re-attach", resource, record)


def _known_elsewhere(runs_root: Path | None, run_id: str, ledger_identity: str) -> str:
    """Why another ledger on this machine may know ``run_id`` (its run folder exists), or ""."""
    import json

    if runs_root is None or not (runs_root / run_id).is_dir():
        return ""
    try:
        other = json.loads((runs_root / run_id / "run.json").read_text(encoding="utf-8")).get("ledger")
    except (OSError, ValueError, AttributeError):
        other = None
    if other and str(other) != ledger_identity:
        return f"the ledger {other} knows it: reap or watch it with --ledger {other}"
    return f"its run folder {runs_root / run_id} exists, but this ledger does not know it: use the ledger that launched it"


def _judge_records(ledger: Ledger, provider: str, seen: set[str], host: str, all_owners: bool,
                   clock: Clock) -> list[ReapItem]:
    items = []
    for record in ledger.runs():
        if record.provider != provider or record.run_id in seen or not (all_owners or record.host == host):
            continue
        if record.finished and record.torn_down_at is None:
            items.append(ReapItem(provider, record.run_id, "untidy", "machine gone; teardown not recorded",
                                  record=record))
        elif not record.finished and record.handle is None and _young(record, clock):
            items.append(ReapItem(provider, record.run_id, "launching", "no machine yet; may still be launching",
                                  record=record))
        elif not record.finished:
            items.append(ReapItem(provider, record.run_id, "lost", f"the ledger says {record.state.value}, "
                                  "the provider has nothing", record=record))
    return items


def _young(record: RunRecord, clock: Clock) -> bool:
    return record.created_at is not None and clock.now() - record.created_at < STALE_LAUNCH
