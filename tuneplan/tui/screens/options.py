"""The Options screen: every place the current job could run, ranked by the recommender — local CPU, Mac,
local GPUs and each cloud offer — with fits, hours, dollars, spot, price date and the reason.

Ranking runs in a worker (it needs this machine's hardware, found by running ``nvidia-smi`` once). Sorting
by cost or time and the filters (provider, spot, budget, deadline) re-rank the same job. Enter on a row
asks to launch there (the launch dialog says what it costs and whether that launcher can run it).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from tuneplan.tui.screens.base import TuneplanScreen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Label, Select, Static

from tuneplan.tui.formatting import bold_then, hours_text, usd_text
from tuneplan.tui.messages import OptionsReady
from tuneplan.tui.screens.launch_dialog import where_text
from tuneplan.tui.widgets.form_field import FormField
from tuneplan.tui.widgets.text_field import TextField
from remote_jobs.money import show_rate

PROVIDER_FILTERS = ("any", "local", "runpod", "skypilot", "modal", "aws", "gcp", "azure", "lambda")
SORTS = ("rank", "cost", "time")
WIDE_COLUMNS = ("#", "where", "GPU", "fits", "time", "cost", "$/h", "spot", "price as of", "launch")
NARROW_COLUMNS = ("#", "where", "GPU", "fits", "time", "cost", "launch")


class OptionsScreen(TuneplanScreen):
    """The ranked candidates for the job on the Plan screen."""

    TITLE = "Options"
    AUTO_FOCUS = "#options-table"
    BINDINGS = [
        Binding("c", "sort('cost')", "Sort by cost", tooltip="Cheapest first (fitting options before the rest)"),
        Binding("t", "sort('time')", "Sort by time", tooltip="Fastest first"),
        Binding("k", "sort('rank')", "Ranked", tooltip="The recommender's order"),
        Binding("enter", "launch", "Launch…", tooltip="Launch the job on the highlighted option"),
    ]

    def __init__(self) -> None:
        super().__init__(id="options-screen")
        self.recommendation = None
        self.sort = "rank"
        self._job_seen = None
        self._rows: list = []
        self._fills = 0
        self.ready: dict[str, str] = {}  # launcher -> what this machine lacks to launch through it ("" when nothing)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="options-filters"):
            yield FormField("Provider", Select([(p, p) for p in PROVIDER_FILTERS], value="any", allow_blank=False,
                                               compact=True, id="filter-provider"), name="provider")
            yield FormField("Spot", Checkbox("on", False, id="filter-spot"), name="spot")
            yield FormField("Budget $", TextField("", placeholder="none", id="filter-budget", compact=True), name="budget")
            yield FormField("Deadline h", TextField("", placeholder="168", id="filter-deadline", compact=True),
                            name="deadline")
        yield Static("", id="options-job", markup=False)
        yield DataTable(id="options-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="options-reason", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._set_columns()

    def width_changed(self) -> None:
        self._set_columns()
        self._fill()

    def _set_columns(self) -> None:
        """Every column that fits: at 80 columns the price's rate, spot and date give way (the line under the
        table has them for the highlighted row, with the reason)."""
        self.set_columns("#options-table", WIDE_COLUMNS, NARROW_COLUMNS)

    def on_screen_resume(self) -> None:
        estimate = self.app.ctx.last_estimate
        if estimate is not None and estimate.job is not self._job_seen:
            self.refresh_options()

    # --- filters and ranking ------------------------------------------------------------------------------
    def constraints(self):
        """The filters as ``Constraints``; a bad number is shown on its field and read as "none"."""
        from planner.recommend import Constraints

        provider = self.query_one("#filter-provider", Select).value
        return Constraints(deadline_hours=self._number("deadline"), max_usd=self._money("budget"),
                           spot=self.query_one("#filter-spot", Checkbox).value,
                           providers=None if provider == "any" else frozenset({provider}))

    def _text(self, name: str) -> str:
        return self.query_one(f"#filter-{name}", Input).value.strip()

    def _number(self, name: str) -> float | None:
        field = self.query_one(f"#field-{name}", FormField)
        text = self._text(name)
        try:
            value = float(text) if text else None
        except ValueError:
            value = -1.0
        field.set_error("a positive number, or empty" if value is not None and value <= 0 else "")
        return value if value is not None and value > 0 else None

    def _money(self, name: str) -> Decimal | None:
        value = self._number(name)
        try:
            return Decimal(self._text(name)) if value is not None else None
        except InvalidOperation:
            return None

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _filters_changed(self) -> None:
        if self._job_seen is not None:  # not the widgets' own first values while mounting
            self.refresh_options()

    def refresh_options(self) -> None:
        estimate = self.app.ctx.last_estimate
        if estimate is None or estimate.job is None:
            self.query_one("#options-job", Static).update("waiting for the Plan screen's estimate (F2) …")
            self.set_timer(0.5, self.on_screen_resume)  # the Plan screen may still be resolving the model
            return
        self._job_seen = estimate.job
        self.query_one("#options-job", Static).update("ranking …")
        self._rank(estimate.job, self.constraints())

    @work(thread=True, exclusive=True, exit_on_error=False, group="options")
    def _rank(self, job, constraints) -> None:
        from planner.recommend import Electricity, recommend

        ctx = self.app.ctx
        settings = ctx.settings
        given = "kwh_usd" in settings.electricity.model_fields_set
        power = Electricity(settings.electricity.kwh_usd, "settings" if given else "assumed default", not given)
        result = recommend(job, ctx.prices, ctx.local_machine(), constraints, ctx.today, power,
                           settings.prices.stale_after_days, ctx.corrections())
        self.ready = _launchers_ready({c.provider for c in result.candidates})
        self.post_message(OptionsReady(result))

    def on_options_ready(self, message: OptionsReady) -> None:
        self.recommendation = message.recommendation
        self._fill()

    def launch_text(self, candidate) -> str:
        """yes; "no" where the launcher cannot run it; what is missing where this machine lacks its key/SDK."""
        if not candidate.launchable:
            return "no"
        missing = self.ready.get(candidate.provider)
        if not missing:
            return "yes"
        return "no key" if ("key" in missing or "token" in missing) else "not set up"

    # --- the table ------------------------------------------------------------------------------------------
    def action_sort(self, how: str) -> None:
        self.sort = how
        self._fill()

    def ordered(self) -> list:
        candidates = list(self.recommendation.candidates) if self.recommendation else []
        c = self.recommendation.constraints if self.recommendation else None
        if c is not None and (c.max_usd is not None or c.deadline_hours is not None):  # the filters filter
            candidates = [x for x in candidates if x.fits and x.within_budget and x.meets_deadline]
        if self.sort == "cost":
            candidates.sort(key=lambda c: (not c.fits, c.usd))
        elif self.sort == "time":
            candidates.sort(key=lambda c: (not c.fits, c.hours))
        return candidates

    def _fill(self) -> None:
        rec = self.recommendation
        if rec is None:
            return
        job = rec.job
        self._rows = self.ordered()
        shown = (f"{len(self._rows)} of {len(rec.candidates)} options within the budget and deadline"
                 if len(self._rows) != len(rec.candidates) else f"{len(rec.candidates)} options")
        calibrated = "".join(f"\n{note}" for note in rec.notes if note.startswith("calibrated on "))
        self.query_one("#options-job", Static).update(bold_then(
            job.model.model_id, f" {job.setup.method} · {int(job.data.tokens):,} tokens · "
            f"{shown}, sorted by {self.sort} (c cost, t time, k ranked) · Enter: launch{calibrated}"))
        table = self.query_one("#options-table", DataTable)
        table.clear()
        self._fills += 1
        colours = self.app.get_css_variables()
        for number, c in enumerate(self._rows, 1):
            where = where_text(c)
            fits = Text("yes" if c.fits else "no", style=colours.get("success" if c.fits else "error", ""))
            what = f"{c.gpus}× {c.gpu}" if c.gpus else c.device.split(" (")[0]
            if c.nodes > 1:
                what = f"{c.nodes} nodes × {what}"
            cells = {"#": str(number), "where": where, "GPU": what, "fits": fits, "time": hours_text(c.hours),
                     "cost": usd_text(c.usd), "$/h": show_rate(c.cost.usd_per_hour)[1:-2],
                     "spot": "spot" if c.spot else "",
                     "price as of": f"{c.price_as_of.isoformat()}{' !' if c.price_stale else ''}",
                     "launch": self.launch_text(c)}
            table.add_row(*(cells[str(column.key.value)] for column in table.ordered_columns),
                          key=f"{self._fills}-{number}")
        self._show_reason()

    @on(DataTable.RowHighlighted, "#options-table")
    def _show_reason(self) -> None:
        chosen = self.highlighted()
        missing = self.ready.get(chosen.provider) if chosen is not None and chosen.launchable else ""
        text = "" if chosen is None else (
            f"{show_rate(chosen.cost.usd_per_hour)}{' spot' if chosen.spot else ''}, price of "
            f"{chosen.price_as_of.isoformat()}{' (stale)' if chosen.price_stale else ''} · {chosen.reason}"
            + (f" · cannot launch: {chosen.why}" if chosen.why else "")
            + (f" · to launch here: {missing}" if missing else ""))
        self.query_one("#options-reason", Label).update(text)

    def highlighted(self):
        table = self.query_one("#options-table", DataTable)
        if not self._rows or table.cursor_row is None or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]

    @on(DataTable.RowSelected, "#options-table")
    def action_launch(self) -> None:
        chosen = self.highlighted()
        if chosen is not None:
            self.app.prepare_launch(chosen)


def _launchers_ready(launchers: set[str]) -> dict[str, str]:
    """launcher -> what this machine lacks to launch through it ("" when nothing), asked without the network."""
    from providers.registry import get_provider

    found = {}
    for name in launchers:
        try:
            result = get_provider(name).ready_here()
        except Exception as exc:  # noqa: BLE001 - a provider that cannot even be built says why in the column
            found[name] = f"not set up ({type(exc).__name__})"
            continue
        found[name] = "" if result.ok else result.message
    return found
