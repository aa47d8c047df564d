"""Rich rendering for runs: the launch plan, what leaves the machine, live progress, and the last word.

The lifecycle reports plain events (``remote_jobs.events``); ``LiveProgress`` turns them into a progress
bar while they arrive. Nothing here decides anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from remote_jobs.events import CostUpdate, Event, Note, Progress as ProgressEvent, StateChanged
from providers.plain_text import one_line
from remote_jobs.money import show_usd
from tuneplan.cli.output import console, styled


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} B"


def show_rate(usd_per_hour) -> str:
    """Hourly rates keep four decimals: electricity for a desktop is a few cents an hour."""
    from remote_jobs.money import show_rate

    return show_rate(usd_per_hour)


def print_plan(request) -> None:
    """The estimate a launch goes ahead with (GPU, hours, dollars) and its limits."""
    est, spec = request.estimate, request.job.spec
    table = Table(title=f"Launch plan: {spec.name} ({request.run_id})", title_justify="left", show_header=False,
                  show_edge=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("job", "smoke (no model)" if spec.task == "smoke" else f"{spec.task} · {spec.method} · {spec.model}")
    table.add_row("where", f"{request.provider.name}: {est.device}" + (f" ×{est.gpus}" if est.gpus > 1 else ""))
    peak = f" · peak {est.peak_gib:.2f} GiB" if est.peak_gib is not None else ""
    table.add_row("estimate", f"{duration(est.hours * 3600)} · {show_usd(est.usd)}{peak}")
    table.add_row("price", f"{show_rate(est.usd_per_hour)} · {est.price_source} · as of {est.price_as_of}")
    cap = show_usd(request.max_total_usd) if request.max_total_usd is not None else "none (set resources.max_total_usd)"
    table.add_row("budget", f"{cap} · hard runtime limit {duration(request.plan.max_runtime_s)} (enforced there)")
    console.print(table)


def print_outgoing(request) -> None:
    """What leaves the machine, and where it goes (CONTRACTS §7)."""
    console.print(styled(("What leaves this machine", "bold"), f" → {request.destination}"))
    for role, path, count in request.outgoing:
        console.print(f"  {role:<6} {path} ({size(count)})")
    console.print("  plus the template, job.json and requirements.txt; secrets travel by name only"
                  + (f" ({', '.join(request.job.spec.secrets)})" if request.job.spec.secrets else ""))
    for note in request.notes:
        console.print(styled(("note:", "yellow"), f" {note}"))


def print_record(record) -> None:
    """The run's last word: outcome, time, money, where the artifacts are."""
    colour = {"succeeded": "green", "failed": "red", "budget_stopped": "yellow", "cancelled": "yellow"}
    state = record.state.value
    took = sum(s for s in (record.provisioning_s, record.running_s) if s is not None)
    console.print(styled((state, colour.get(state, "white")), f" {record.run_id} in {duration(took)} · "
                         f"cost {show_usd(record.cost_usd)} (estimate {show_usd(record.estimate_usd)})"))
    if record.failure_reason:
        console.print(f"  reason: {one_line(record.failure_reason, 1000)}")
    if record.artifacts:
        console.print(f"  artifacts: {len(record.artifacts)} files verified in {record.runs_dir}/artifacts")
    push = record.push or {}
    if push and not push.get("ok"):
        console.print(f"  Hub push to {push.get('repo')} failed ({push.get('error')}); retry: tuneplan push {record.run_id}")
    if state != "succeeded" and record.runs_dir and (Path(record.runs_dir) / "checkpoint").is_dir():
        console.print(f"  a checkpoint was kept: tuneplan resume {record.run_id} continues from it")


def print_details(record, events: list[dict]) -> None:
    """Everything recorded of one run: what ran where, the outcome, final metrics, versions, overrides, push."""
    print_record(record)
    facts = [("job", f"{record.task} · {record.method} · {record.model}"), ("project/owner", f"{record.project} / "
             f"{record.owner}"), ("where", f"{record.provider}/{record.cloud} {record.gpu} ×{record.gpus or 0}"),
             ("price", f"{show_rate(record.price_usd_per_hour)} · {record.price_source} · as of {record.price_as_of}"),
             ("folder", record.runs_dir), ("tuneplan", record.tuneplan_version or "-")]
    if record.resumed_from:
        facts.append(("resumed from", record.resumed_from))
    if record.tracking_url:
        facts.append(("tracking", record.tracking_url))
    if record.overrides:
        facts.append(("overrides", json.dumps(record.overrides)))
    metrics = record.metrics or {}
    for section in ("train", "eval"):
        if metrics.get(section):
            facts.append((section, ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in metrics[section].items())))
    for key in ("tokens", "tokens_per_s", "wall_s", "device", "peak_mem_reserved_gib"):
        if metrics.get(key) is not None:
            facts.append((key, str(metrics[key])))
    if record.versions:
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in record.versions.items())))
    if record.push:
        facts.append(("hub push", f"{'ok' if record.push.get('ok') else 'failed'} {record.push.get('repo')} "
                                  f"{record.push.get('url') or record.push.get('error') or ''}"))
    table = Table(show_header=False, show_edge=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in facts:
        table.add_row(label, one_line(value, 2000))
    console.print(table)
    for event in events[-12:]:
        console.print(one_line(f"  {event['at']}  {event['state'] or '':<12} {event['message'] or ''}", 400), style="dim")


class LiveProgress:
    """An event sink that draws a progress bar (steps, loss, cost) and prints state changes and notes.

    The bar appears with the first sign of a live run, so re-attaching to a finished run prints no bar."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}", markup=False), TimeElapsedColumn(), console=console,
                                 transient=False)
        self.task = self.progress.add_task("starting", total=None, info="")
        self.started = False
        self.loss: float | None = None
        self.reward = ""
        self.cost = ""

    def __enter__(self) -> "LiveProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            self.progress.stop()

    def print(self, text: str, style: str | None = None) -> None:
        (self.progress.console if self.started else console).print(text, style=style)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Note):
            self.print(f"  {event.message}", style="dim")
            return
        if not self.started:
            self.progress.start()
            self.started = True
        if isinstance(event, StateChanged):
            self.print(f"· {event.state}" + (f": {event.message}" if event.message else ""))
            self.progress.update(self.task, description=event.state)
        elif isinstance(event, ProgressEvent):
            self.loss = event.loss if event.loss is not None else self.loss
            if event.reward is not None:  # GRPO: how the sampled answers score, and how far apart
                spread = f" ± {event.reward_std:.3f}" if event.reward_std is not None else ""
                self.reward = f"reward {event.reward:.3f}{spread} · "
            self.progress.update(self.task, completed=event.step, total=event.total_steps)
        elif isinstance(event, CostUpdate):
            cap = f" of {show_usd(event.cap_usd)}" if event.cap_usd is not None else ""
            self.cost = f"{show_usd(event.usd)}{cap}"
        loss = f"loss {self.loss:.3f} · " if self.loss is not None else ""
        self.progress.update(self.task, info=f"{loss}{self.reward}{self.cost}")

    def final(self, record) -> None:
        """The bar's last word is the ledger's: the recorded cost (not the clock's), and full on success."""
        if not self.started:
            return
        task = self.progress.tasks[0]
        if record.state.value == "succeeded" and task.total:
            self.progress.update(self.task, completed=task.total)
        loss = f"loss {self.loss:.3f} · " if self.loss is not None else ""
        cap = f" of {show_usd(record.max_total_usd)}" if record.max_total_usd is not None else ""
        self.progress.update(self.task, description=record.state.value,
                             info=f"{loss}{self.reward}{show_usd(record.cost_usd)}{cap} (recorded)")


class PlainEvents:
    """A sink without a bar, for ``launch --detach``: state changes and notes only."""

    def final(self, record) -> None:
        pass

    def __enter__(self) -> "PlainEvents":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def print(self, text: str, style: str | None = None) -> None:
        console.print(text, style=style)

    def __call__(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self.print(f"· {event.state}" + (f": {event.message}" if event.message else ""))
        elif isinstance(event, Note):
            self.print(f"  {event.message}", style="dim")
