"""The launch confirmation: provider, GPU, estimated hours and dollars, the budget cap and the hard runtime
limit, and what leaves this machine. Returns True to launch.

When the option cannot be launched (a launcher not set up, no job spec with data on screen) the dialog
says why and offers only Cancel, so the reason is read rather than discovered by a failed launch.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Static

from tuneplan.tui.formatting import hours_text, short_source, usd_text
from remote_jobs.money import show_rate


def option_line(candidate: Any) -> str:
    """One line for an option: where, what, how long, what it costs and the price's source and date. A local
    CPU or Mac is named as the device (never "0× cpu")."""
    where = where_text(candidate)
    what = f"{candidate.gpus}× {candidate.gpu}" if candidate.gpus else candidate.device
    if getattr(candidate, "nodes", 1) > 1:
        what = f"{candidate.nodes} nodes × {what}"
    source = short_source(candidate.price_source)
    return (f"{what} on {where}{' (spot)' if candidate.spot else ''}: {hours_text(candidate.hours)}, "
            f"{usd_text(candidate.usd)} at {show_rate(candidate.cost.usd_per_hour)}"
            + (f" ({source}, as of {candidate.price_as_of.isoformat()})" if source else
               f" (as of {candidate.price_as_of.isoformat()})"))


def where_text(candidate: Any) -> str:
    """The launcher, the cloud where it is another, and the offering where a launcher has several (RunPod's
    community and secure clouds price the same card differently)."""
    where = candidate.provider if candidate.cloud in ("", candidate.provider) else f"{candidate.provider}/{candidate.cloud}"
    offering = (getattr(candidate, "offering", "") or "").split("-")[0].split(" ")[0]
    return f"{where} {offering}" if offering in ("community", "secure") else where


def request_lines(request: Any) -> list[str]:
    est = request.estimate
    cap = usd_text(request.max_total_usd) if request.max_total_usd is not None else "none (resources.max_total_usd)"
    lines = [
        f"run       {request.run_id}",
        f"provider  {request.provider.name} → {request.destination}",
        f"GPU       {_machines(est)}{est.gpus}× {est.gpu or est.device}{' (spot)' if est.spot else ''}",
        *engine_lines(request),
        f"estimate  {hours_text(est.hours)}, {usd_text(est.usd)} at {show_rate(est.usd_per_hour)} "
        f"({short_source(est.price_source) or 'no price'}{', as of ' + est.price_as_of if est.price_as_of else ''})",
        f"budget    cap {cap} · hard limit {hours_text(request.plan.max_runtime_s / 3600)} on the remote side",
    ]
    for role, path, size in request.outgoing:
        lines.append(f"leaves    {role}: {path} ({size:,} bytes)")
    lines += [f"note      {note}" for note in request.notes]
    return lines


def _machines(est: Any) -> str:
    return f"{est.nodes} nodes × " if getattr(est, "nodes", 1) > 1 else ""


def engine_lines(request: Any) -> list[str]:
    """For a distributed run: the engine and the command every node runs (from the same builder the bundle
    uses); nothing for one process."""
    from remote_jobs.distributed import launcher_args, shape_of

    shape = shape_of(request.job.spec, request.plan.gpus or None, request.estimate.sharding)
    launcher = launcher_args(shape)
    if not launcher:
        return []
    command = " ".join(["python", *launcher, f"{request.job.spec.task}.py", "--config", "job.json"])
    return [f"engine    {shape.sharding} over {shape.world_size} processes ({shape.nodes} × {shape.per_node})",
            f"command   {command}"]


class LaunchDialog(ModalScreen[dict]):
    """Confirm a launch (``request``), or explain why ``candidate`` cannot be launched (``problem``).

    Returns ``{"launch": bool, "validate": bool}``: the checkbox is the CLI's ``--validate/--no-validate``.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, candidate: Any, request: Any = None, problem: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.candidate, self.request = candidate, request
        self.problem = problem or ("over the budget cap: raise resources.max_total_usd in the spec"
                                   if request is not None and request.over_budget else "")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog launch-dialog"):
            yield Label("Launch this job?" if not self.problem else "Cannot launch this option", classes="dialog-title")
            if self.candidate is not None:
                yield Static(f"option    {option_line(self.candidate)}", id="launch-option", markup=False)
            if self.request is not None:
                yield Static("\n".join(request_lines(self.request)), id="launch-details", markup=False)
            if self.problem:
                yield Static(self.problem, id="launch-problem", markup=False)
            yield Checkbox("check the job here first (the template's --validate-only)", True, id="validate")
            with Horizontal(classes="dialog-buttons"):
                if not self.problem and self.request is not None:  # no button that cannot do anything
                    yield Button("Launch", id="launch", variant="success")
                yield Button("Cancel" if not self.problem else "Close", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"launch": event.button.id == "launch", "validate": self.query_one("#validate", Checkbox).value})

    def action_cancel(self) -> None:
        self.dismiss({"launch": False, "validate": True})
