"""``tuneplan doctor``: does each launcher work here, and does the real service behave as tuneplan assumes?

Offline, each provider's ``check()`` (SDK installed, credentials present, settings usable) costs nothing.
Online, for one provider, the smoke job (no model, a few steps, a hard cap of ``ONLINE_CAP_USD``) goes the
whole way a real run goes (launch, watch, pull, verify, teardown, record), and what the service did on
the way is written down: the states it reported and when, every error's shape, the machine it chose, how
long provisioning took, the cost tuneplan computed, and whether and when the provider's own bill arrived.
The fakes our tests use were written from the SDK sources; this file is what a user attaches to a bug
report when the real service disagrees. Secret values never reach it: the values of the secrets named in
``SECRET_NAMES`` are replaced wherever they would appear.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from collections.abc import Callable
from typing import Any

from providers.base import Provider
from providers.plain_text import one_line
from providers.types import CheckResult
from remote_jobs.clock import Clock
from remote_jobs.events import Event, Note, Progress, StateChanged
from remote_jobs.ledger import Ledger

ONLINE_CAP_USD = Decimal("0.50")
SMOKE_STEPS = 5
SMOKE_STEP_S = 0.2
SDK_PACKAGES = {"skypilot": "skypilot", "modal": "modal", "runpod": "runpod"}
SECRET_NAMES = ("HF_TOKEN", "RUNPOD_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "WANDB_API_KEY",
                "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_SECRET")


@dataclass(frozen=True)
class ProviderCheck:
    name: str
    result: CheckResult


def offline_checks(names: list[str], get: Callable[[str], Provider]) -> list[ProviderCheck]:
    """Each provider's own check; one that cannot even be built is a failed check with the reason."""
    found = []
    for name in names:
        try:
            result = get(name).check()
        except Exception as exc:  # noqa: BLE001 - a missing extra or broken settings is the answer here
            result = CheckResult(False, one_line(exc, 300), "")
        found.append(ProviderCheck(name, result))
    return found


@dataclass
class Observations:
    """What the service did during the online check, in order, with seconds since the start."""

    began: float = field(default_factory=time.monotonic)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def at(self) -> float:
        return round(time.monotonic() - self.began, 3)

    def event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self.timeline.append({"t_s": self.at(), "state": event.state, "message": one_line(event.message, 500)})
        elif isinstance(event, Note):
            self.timeline.append({"t_s": self.at(), "note": one_line(event.message, 500)})
        elif isinstance(event, Progress):  # consecutive progress lines collapse into the latest one
            row = {"t_s": self.at(), "step": event.step, "total_steps": event.total_steps}
            if self.timeline and "step" in self.timeline[-1]:
                self.timeline[-1] = row
            else:
                self.timeline.append(row)

    def error(self, where: str, exc: BaseException) -> None:
        self.errors.append(f"{where}: {type(exc).__module__}.{type(exc).__name__}: {one_line(exc, 500)}")


def smoke_spec(provider: str):
    """The job the online check runs: the smoke template, a few steps, checkpoints, a hard dollar cap."""
    from planner.spec import spec_from_dict

    return spec_from_dict({
        "name": f"doctor-{provider}", "project": "tuneplan-doctor", "task": "smoke", "model": "none",
        "training": {"max_steps": SMOKE_STEPS, "save_steps": 2},
        "smoke": {"step_seconds": SMOKE_STEP_S},
        "resources": {"provider": provider, "max_total_usd": float(ONLINE_CAP_USD)}})


def online_check(provider: Provider, ledger: Ledger, runs_root: Path, clock: Clock, bill_wait_s: float = 0.0,
                 on_event: Callable[[Event], None] | None = None, confirm: Callable[[Any], bool] = lambda r: True,
                 ) -> dict[str, Any]:
    """Run the smoke job on ``provider`` end to end and return what was seen (see the module docstring).

    ``confirm(request)`` is asked once the estimate is known and before anything is paid for."""
    from remote_jobs import launch as steps
    from remote_jobs.watch import watch

    seen = Observations()
    sink = _both(seen.event, on_event)
    report: dict[str, Any] = {"provider": provider.name, "started_at": clock.now().isoformat(),
                              "tuneplan": _version("tuneplan"), "python": platform.python_version(),
                              "platform": platform.platform(), "sdk": _version(SDK_PACKAGES.get(provider.name, "")),
                              "check": _check(provider, seen)}
    if not report["check"]["ok"]:
        return _finished(report, seen, "skipped: the provider's own check failed")
    try:
        request = steps.prepare(smoke_spec(provider.name), None, provider, clock)
    except Exception as exc:  # noqa: BLE001 - recorded: what the service or our planning said
        seen.error("prepare", exc)
        return _finished(report, seen, "could not plan the smoke job")
    report["plan"] = {"gpu": request.plan.gpu, "gpus": request.plan.gpus, "usd_per_hour": str(request.estimate.usd_per_hour),
                      "price_source": request.estimate.price_source, "max_runtime_s": request.plan.max_runtime_s,
                      "destination": request.destination}
    if not confirm(request):
        return _finished(report, seen, "not launched: declined")
    try:
        bundle = steps.bundle_and_validate(request, runs_root)
        run = steps.start(request, bundle, ledger, clock, runs_root, sink)
        record = watch(run, on_interrupt=lambda: True)
    except Exception as exc:  # noqa: BLE001 - the launch or the watch failed: that is the finding
        seen.error("launch/watch", exc)
        record = ledger.get(request.run_id)
    if record is not None:
        report["run"] = _run_facts(record)
        report["bill"] = _wait_for_bill(record.run_id, ledger, provider, bill_wait_s, seen)
    succeeded = record is not None and record.state.value == "succeeded"
    outcome = "the smoke run succeeded" if succeeded else "the smoke run did not succeed"
    return _finished(report, seen, outcome)


def _both(first: Callable[[Event], None], second: Callable[[Event], None] | None) -> Callable[[Event], None]:
    def sink(event: Event) -> None:
        first(event)
        if second is not None:
            second(event)
    return sink


def _check(provider: Provider, seen: Observations) -> dict[str, Any]:
    try:
        result = provider.check()
    except Exception as exc:  # noqa: BLE001 - recorded as it came
        seen.error("check", exc)
        return {"ok": False, "message": one_line(exc, 500), "fix": ""}
    return {"ok": result.ok, "message": one_line(result.message, 500), "fix": one_line(result.fix or "", 500)}


def _run_facts(record) -> dict[str, Any]:
    return {"run_id": record.run_id, "state": record.state.value, "failure_reason": record.failure_reason,
            "cloud": record.cloud, "region": record.region, "gpu": record.gpu, "gpus": record.gpus,
            "price_usd_per_hour": _money(record.price_usd_per_hour), "price_source": record.price_source,
            "provisioning_s": record.provisioning_s, "running_s": record.running_s,
            "actual_usd": _money(record.actual_usd), "billed_usd": _money(record.billed_usd),
            "torn_down": record.torn_down_at is not None, "artifacts": len(record.artifacts),
            "handle_data_keys": sorted((record.handle.data if record.handle else {}).keys())}


def _wait_for_bill(run_id: str, ledger: Ledger, provider: Provider, wait_s: float,
                   seen: Observations) -> dict[str, Any]:
    """Ask for the provider's bill until it comes or ``wait_s`` passes: how late bills come is a finding."""
    from remote_jobs.bills import refresh_bills, waiting_for_a_bill

    start = time.monotonic()
    record = ledger.get(run_id)
    if record.billed_usd is not None:
        return {"billed_usd": _money(record.billed_usd), "after_s": 0.0}
    billing = provider.capability("billing")
    if not waiting_for_a_bill(record) or (billing is not None and not billing.supported):
        return {"billed_usd": None, "note": "no bill to ask for: cost is rate × time"}
    problem = ""
    while True:
        try:
            reads = refresh_bills(ledger, {provider.name: provider})
        except Exception as exc:  # noqa: BLE001 - a bill that cannot be read is a finding
            seen.error("bill", exc)
            break
        read = next((r for r in reads if r.run_id == run_id), None)
        if read is not None and read.billed_usd is not None:
            return {"billed_usd": _money(read.billed_usd), "after_s": round(time.monotonic() - start, 1)}
        problem = read.problem if read is not None else problem
        if time.monotonic() - start >= wait_s:
            break
        time.sleep(min(30.0, max(1.0, wait_s / 10)))
    return {"billed_usd": None, "waited_s": round(time.monotonic() - start, 1), "problem": problem}


def _finished(report: dict[str, Any], seen: Observations, outcome: str) -> dict[str, Any]:
    report.update(outcome=outcome, timeline=seen.timeline, errors=seen.errors, took_s=seen.at())
    return report


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    if not package:
        return None
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def scrubbed(text: str) -> str:
    """``text`` with the value of every secret named in ``SECRET_NAMES`` that is set here replaced."""
    for name in SECRET_NAMES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{name}>")
    return text


def write_report(report: dict[str, Any], folder: Path, now: datetime, output: Path | None = None) -> Path:
    """The findings as JSON (private to this user: it names accounts and machines), secrets scrubbed."""
    from providers.private_files import write_private_text

    path = output or folder / f"doctor-{report['provider']}-{now.strftime('%Y%m%d-%H%M%S')}.json"
    write_private_text(path, scrubbed(json.dumps(report, indent=2, sort_keys=True, default=str)) + "\n")
    return path
