"""A run the lifecycle is working on: its ledger record, its provider, its handle, its folder, the clock.

Built fresh from the ledger by every command that touches a run (``launch``, ``watch``, ``pull``, ``down``,
``reap``), so a command started after another one died picks up exactly where the ledger says things are.

The front end's event sink is wrapped: a display that fails (a terminal gone, a renderer choking on what a
remote machine printed) is switched off and noted in the ledger, and the run goes on to its pull and its
teardown. A broken screen must never leave a machine billing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from providers.base import Provider
from providers.plain_text import one_line
from providers.types import LaunchedOn, RunHandle, RunState, RunStatus
from remote_jobs.clock import Clock
from remote_jobs.events import Event, EventSink, Note, StateChanged
from remote_jobs.ledger import Ledger
from remote_jobs.money import cost_for
from remote_jobs.records import RunRecord
from remote_jobs.retry import with_retry


class ActiveRun:
    def __init__(self, ledger: Ledger, provider: Provider, record: RunRecord, clock: Clock, runs_root: Path,
                 on_event: EventSink) -> None:
        self.ledger, self.provider, self.record, self.clock = ledger, provider, record, clock
        self.run_dir = Path(record.runs_dir) if record.runs_dir else runs_root / record.run_id
        self._sink: EventSink | None = on_event

    def on_event(self, event: Event) -> None:
        """Tell the front end; if its display fails, switch it off, note why, and carry on with the run."""
        if self._sink is None:
            return
        try:
            self._sink(event)
        except Exception as exc:  # noqa: BLE001 - any display failure; the run's pull and teardown matter more
            self._sink = None
            self.ledger.update(self.run_id, message=f"the display failed and was switched off: "
                                                    f"{type(exc).__name__}: {one_line(exc, 200)}")

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def refresh(self) -> RunRecord:
        self.record = self.ledger.get(self.run_id) or self.record
        return self.record

    def update(self, message: str = "", only_if_state: RunState | None = None, **changes) -> bool:
        """Change the record; a state change only while no outcome is recorded (two watchers may race), and
        with ``only_if_state`` only while the run is still in that state."""
        message = one_line(message, 1000)
        changed = self.ledger.update(self.run_id, only_if_open="state" in changes, only_if_state=only_if_state,
                                     message=message, **changes)
        self.refresh()
        if "state" in changes and changed:
            self.on_event(StateChanged(self.run_id, RunState(changes["state"]).value, message))
        return changed

    def note(self, message: str) -> None:
        self.on_event(Note(self.run_id, message))

    def call(self, fn, *args):
        """A provider call, retried on transient errors."""
        return with_retry(lambda: fn(*args), self.clock, on_retry=self.note)

    # --- the handle -----------------------------------------------------------------------------------
    def handle(self) -> RunHandle | None:
        """The recorded handle, else the resource the provider holds for this run id (the CLI may have died
        between "the machine exists" and "the ledger knows it"); found handles are recorded at once."""
        if self.record.handle is not None:
            return self.record.handle
        for resource in self.call(self.provider.list_resources):
            if resource.run_id == self.run_id:
                self.update(message="handle recovered from the provider's resources", handle=resource.handle)
                return resource.handle
        return None

    # --- time and money -------------------------------------------------------------------------------
    def elapsed_s(self, now: datetime | None = None) -> float:
        start = self.record.started_at or self.record.created_at
        return max(0.0, ((now or self.clock.now()) - start).total_seconds()) if start else 0.0

    def cost_so_far(self, now: datetime | None = None) -> Decimal:
        return cost_for(self.record.price_usd_per_hour or Decimal(0), self.elapsed_s(now)) or Decimal(0)

    def over_budget(self, cost: Decimal) -> bool:
        cap = self.record.max_total_usd
        return cap is not None and cost > cap

    def observe(self, status: RunStatus, only_forward: bool = False) -> None:
        """Record a state the provider reports for the first time (and when provisioning ended), and the
        machine it launched when that is not the one priced. ``only_forward`` (a reader, not the watcher):
        only from the state this record was read in, so a state someone else has moved on is never undone."""
        if status.launched is not None:
            self._launched_on(status.launched)
        state = status.state
        if state in (RunState.UNKNOWN, self.record.state) or state.terminal:
            return
        changes: dict = {"state": state}
        if state == RunState.RUNNING and self.record.provisioning_s is None:
            changes["provisioning_s"] = self._provisioning_s(status)
        if only_forward:
            if self.record.state not in (RunState.PENDING, RunState.PROVISIONING) or state != RunState.RUNNING:
                return  # a reader only records a start; everything after it is the watcher's
            changes["only_if_state"] = self.record.state
        self.update(message=status.message, **changes)

    def _launched_on(self, machine: LaunchedOn) -> None:
        """The ledger charges what ran: a provider that chose another cloud, region or card than the priced one
        changes the record's machine, and its rate when our catalog prices that machine (else the priced
        rate stays, and the note says the launched machine is not in the catalog)."""
        record = self.record
        same = (machine.cloud, machine.region, machine.gpu, machine.gpus) == (
            record.cloud, record.region, record.gpu, record.gpus)
        priced = machine.usd_per_hour is None or machine.usd_per_hour == record.price_usd_per_hour
        if same and priced:
            return
        what = f"{machine.gpus}x {machine.gpu} on {machine.cloud}" + (f" {machine.region}" if machine.region else "")
        changes: dict = {"cloud": machine.cloud, "region": machine.region, "gpu": machine.gpu, "gpus": machine.gpus}
        if machine.usd_per_hour is not None:
            changes.update(price_usd_per_hour=machine.usd_per_hour, price_source=machine.source,
                           price_as_of=machine.as_of)
            rate = f"${machine.usd_per_hour}/h (priced ${record.price_usd_per_hour}/h)"
        else:
            rate = f"not in our price catalog: the priced ${record.price_usd_per_hour}/h is charged"
        self.update(message=f"launched {what}, {rate}", **changes)
        self.note(f"the provider launched {what}: {rate}")

    def _provisioning_s(self, status: RunStatus) -> float:
        """From launch until the job ran: the provider's own start time when it is plausible, else now."""
        start, now = self.record.started_at, self.clock.now()
        running = provider_time(status.started_at, start, now) or now
        return round(max(0.0, (running - start).total_seconds()), 3) if start else 0.0


def provider_time(epoch: float | None, after: datetime | None, before: datetime) -> datetime | None:
    """A provider's timestamp as a datetime, when it lies between our own observations (clocks can differ)."""
    if epoch is None or after is None:
        return None
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment if after <= moment <= before else None
