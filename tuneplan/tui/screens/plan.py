"""The Plan screen (CONTRACTS §9, the first screen): the job's fields on the left, and on the right what it
needs — peak memory per GPU with its breakdown, parameters, tokens, hours and dollars, and the GPUs it fits.

The estimate follows the typing (debounced by ``DEBOUNCE_S``). A catalog model is estimated on the UI
thread (a few milliseconds, measured by ``bench/bench_tui.py``); a Hub id or a folder is resolved in a
worker because that reads the disk or the network. A bad field shows its error inline and keeps the last
good numbers on screen, dimmed.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from tuneplan.tui.screens.base import TuneplanScreen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Select, Static

from tuneplan.tui.draft import CHOICE_FIELDS, LABELS, DraftEstimate, estimate_draft, is_instant
from tuneplan.tui.formatting import bold_then, count_text, hours_text, usd_text
from tuneplan.tui.messages import EstimateReady
from tuneplan.tui.widgets.form_field import FormField
from tuneplan.tui.widgets.memory_bar import MemoryBar
from tuneplan.tui.widgets.model_picker import ModelPicker
from tuneplan.tui.widgets.text_field import TextField
from remote_jobs.money import show_rate
from planner.plan import data_text

DEBOUNCE_S = 0.12
WIDE_COLUMNS = (("GPU", "gpu"), ("GPUs", "n"), ("card GiB", "card"), ("headroom", "headroom"), ("tokens/s", "tps"),
                ("time", "hours"), ("cheapest", "usd"), ("where · price as of", "where"))
NARROW_COLUMNS = (("GPU", "gpu"), ("free GiB", "headroom"), ("time", "hours"), ("cheapest", "usd"))
NUMBER_FIELDS = ("seq_len", "batch_size", "gpus", "nodes", "examples", "avg_tokens", "epochs")
# The form top to bottom: the job, then where it runs (GPUs, machines, how they share the work), then the data.
FORM_ORDER = ("task", "method", "quant", "stack", "seq_len", "batch_size", "gpus", "nodes", "sharding", "examples",
              "avg_tokens", "epochs")
PLACEHOLDERS = {"examples": "1000 (assumed)", "avg_tokens": "512 (assumed)", "epochs": "1"}


class PlanScreen(TuneplanScreen):
    """The job form and its estimate."""

    TITLE = "Plan"

    def __init__(self) -> None:
        super().__init__(id="plan-screen")
        self._timer = None

    def compose(self) -> ComposeResult:
        values = self.ctx.draft.values
        yield Header()
        with VerticalScroll(id="plan-form"):
            yield FormField(LABELS["model"], ModelPicker(values["model"], id="model-picker"), name="model",
                            stacked=True)
            for name in FORM_ORDER:
                if name in CHOICE_FIELDS:
                    yield FormField(LABELS[name], Select([(a, a) for a in CHOICE_FIELDS[name]], value=values[name],
                                                         allow_blank=False, compact=True, id=name), name=name)
                else:
                    yield FormField(LABELS[name], TextField(values[name], placeholder=PLACEHOLDERS.get(name, ""), id=name,
                                                        compact=True), name=name)
            yield FormField(LABELS["grad_ckpt"], Checkbox("on", values["grad_ckpt"], id="grad_ckpt"), name="grad_ckpt")
            yield Static("", id="form-error", markup=False)
        with Vertical(id="plan-result"):
            yield Static("", id="plan-summary", markup=False)
            yield Static("", id="plan-peak", markup=False)
            yield MemoryBar(id="memory-bar")
            yield Static("", id="plan-tokens", markup=False)
            yield DataTable(id="fits", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self._set_columns()
        self.estimate_now()
        self.query_one("#model-input").focus()  # typing at once goes to the model (its text selected: replaced)

    def width_changed(self) -> None:
        self._set_columns()
        if self.ctx.last_estimate is not None:
            self.show_estimate(self.ctx.last_estimate)

    def _set_columns(self) -> None:
        self.set_columns("#fits", WIDE_COLUMNS, NARROW_COLUMNS)

    # --- reading the form and estimating ---------------------------------------------------------------
    def form_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"model": self.query_one("#model-input", Input).value}
        for name in CHOICE_FIELDS:
            values[name] = self.query_one(f"#{name}", Select).value
        for name in NUMBER_FIELDS:
            values[name] = self.query_one(f"#{name}", Input).value
        values["grad_ckpt"] = self.query_one("#grad_ckpt", Checkbox).value
        return values

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self.estimate_now)

    def estimate_now(self) -> None:
        """Re-estimate the form: at once for a catalog model, in a worker for anything else."""
        values = self.form_values()
        self.ctx.draft.values = values
        if is_instant(values["model"]):
            self.show_estimate(estimate_draft(self.ctx.draft, self.ctx.prices))
        else:
            self.query_one("#plan-summary", Static).update(f"resolving {values['model'].strip()} …")
            self._estimate_in_worker(dict(values))

    @work(thread=True, exclusive=True, exit_on_error=False, group="estimate")
    def _estimate_in_worker(self, values: dict[str, Any]) -> None:
        from dataclasses import replace

        draft = replace(self.ctx.draft, values=values)
        self.post_message(EstimateReady(estimate_draft(draft, self.ctx.prices), values))

    def on_estimate_ready(self, message: EstimateReady) -> None:
        if message.values == self.ctx.draft.values:  # an answer for what the form still says
            self.show_estimate(message.estimate)

    # --- showing it ---------------------------------------------------------------------------------------
    def show_estimate(self, estimate: DraftEstimate) -> None:
        for field in self.query(FormField):
            field.set_error(estimate.errors.get(field.field_name, ""))
        self.query_one("#form-error", Static).update(estimate.errors.get("", ""))
        result = self.query_one("#plan-result")
        result.set_class(estimate.plan is None, "-stale")
        if estimate.plan is None:
            if self.ctx.last_estimate is None:
                self.query_one("#plan-summary", Static).update("fix the highlighted field to see an estimate")
            return
        self.ctx.last_estimate = estimate
        plan = estimate.plan
        self._show_summary(plan)
        self.query_one("#memory-bar", MemoryBar).update_breakdown(plan["breakdown_gib"])
        self._show_tokens(plan, estimate.quotes)
        self._fill_fits(plan, estimate.quotes)

    def _show_summary(self, plan: dict[str, Any]) -> None:
        model, params, job = plan["model"], plan["params"], plan["job"]
        share = params["trainable"] / params["total"] * 100 if params["total"] else 0.0
        if self.narrow:  # two short lines and one: the fit table needs the rows
            self.query_one("#plan-summary", Static).update(bold_then(
                model["id"], f"\n{count_text(params['total'])} params · {share:.2f} % trained · {job['method']}"
                f"{'' if job['quant'] == 'none' else ' ' + job['quant']}"))
            self.query_one("#plan-peak", Static).update(Text.assemble(
                "Peak per GPU ", (f"{plan['peak_vram_gib']:.2f} GiB", "bold")))
            return
        self.query_one("#plan-summary", Static).update(bold_then(
            model["id"], f" ({model['arch']}, {model['source']}) · {count_text(params['total'])} params · "
            f"{count_text(params['trainable'])} trainable ({share:.2f} %) · {job['task']} {job['method']}"
            f"{'' if job['quant'] == 'none' else ' ' + job['quant']}, {job['precision']}{_engine(plan)}"))
        views = plan["memory_views_gib"]
        self.query_one("#plan-peak", Static).update(Text.assemble(
            "Peak per GPU ", (f"{plan['peak_vram_gib']:.2f} GiB", "bold"), f" (nvidia-smi view) at {plan['peak_phase']} · "
            f"allocated {views['allocated']:.2f} · reserved {views['reserved']:.2f} GiB"))

    def _show_tokens(self, plan: dict[str, Any], quotes: dict) -> None:
        data = plan["data"]
        line = Text(f"Tokens {plan['tokens']:,} ({data_text(plan)}{', assumed' if data['assumed'] else ''}"
                    f") · {plan['flops']:.3g} FLOPs")
        if quotes:
            gpu, quote = min(quotes.items(), key=lambda item: item[1].usd)
            line.append_text(Text.assemble(
                "\nCheapest fit: ", (gpu, "bold"), f" {hours_text(plan['fits'][gpu]['hours'])}, ",
                (usd_text(quote.usd), "bold"), f" on {quote.where} ({show_rate(quote.usd_per_hour)}, as of "
                f"{quote.as_of.isoformat()}{', approx.' if quote.approx else ''})"))
        else:
            line.append("\nNo rented GPU in the price table fits this job as planned.")
        self.query_one("#plan-tokens", Static).update(line)

    def _fill_fits(self, plan: dict[str, Any], quotes: dict) -> None:
        table = self.query_one("#fits", DataTable)
        table.clear()
        colours = self.app.get_css_variables()
        ordered = sorted(plan["fits"].items(), key=lambda item: (not item[1]["fits"], item[1]["hours"]))
        for gpu, fit in ordered:
            quote = quotes.get(gpu)
            headroom = Text(f"{fit['headroom_gib']:+.1f}", style=_headroom_colour(fit["headroom_gib"], colours))
            if self.narrow:
                table.add_row(gpu, headroom, hours_text(fit["hours"]) if fit["fits"] else "no fit",
                              usd_text(quote.usd) if quote else "—", key=gpu)
                continue
            table.add_row(gpu, str(fit["gpus"]), f"{fit['memory_gib']:.1f}", headroom,
                          f"{'~' if fit['approximate'] else ''}{fit['tokens_per_s']:,.0f}" if fit["fits"] else "—",
                          hours_text(fit["hours"]) if fit["fits"] else "does not fit",
                          usd_text(quote.usd) if quote else "—",
                          f"{quote.where} {quote.as_of.isoformat()}" if quote else "", key=gpu)


def _headroom_colour(headroom: float, colours: dict[str, str]) -> str:
    if headroom < 0:
        return colours.get("error", "red")
    return colours.get("warning", "yellow") if headroom < 2 else colours.get("success", "green")


def _engine(plan: dict[str, Any]) -> str:
    """' · 2 nodes × 8 GPUs, fsdp' for a distributed job; nothing for one GPU."""
    job, nodes = plan["job"], plan.get("nodes", 1)
    if job["gpus"] * nodes == 1:
        return ""
    machines = f"{nodes} nodes × " if nodes > 1 else ""
    return f" · {machines}{job['gpus']} GPU{'s' if job['gpus'] > 1 else ''}, {job['sharding']}"
