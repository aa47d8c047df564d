"""The Rent vs buy screen: owning a card against renting the same work, as two cumulative-cost curves with
the break-even month marked, and the inputs (card, price, hours a month, electricity) editable.

The numbers are ``planner.rent_vs_buy.by_hours`` — the same as ``tuneplan rent-vs-buy`` — over the price
rows in the context; a bad input is shown on its field and the last good chart stays.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from tuneplan.tui.screens.base import TuneplanScreen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Header, Input, Static
from textual_plotext import PlotextPlot

from planner.errors import TuneplanError
from tuneplan.tui.formatting import bold_then
from tuneplan.tui.widgets.form_field import FormField
from tuneplan.tui.widgets.text_field import TextField

DEFAULT_CARD = "RTX4090"
YEARS = 3


class RentScreen(TuneplanScreen):
    """Buy a card, or rent the same work?"""

    TITLE = "Rent vs buy"

    def __init__(self) -> None:
        super().__init__(id="rent-screen")
        self.result = None

    def compose(self) -> ComposeResult:
        from planner.catalog.gpus import gpu_catalog

        kwh = self.app.ctx.settings.electricity.kwh_usd
        yield Header()
        with Horizontal(id="rent-inputs"):
            yield FormField("Card", TextField(DEFAULT_CARD, id="rent-gpu", compact=True,
                                          suggester=SuggestFromList(list(gpu_catalog()), case_sensitive=False)),
                            name="gpu")
            yield FormField("Price $", TextField("", placeholder="catalog", id="rent-price", compact=True), name="price")
            yield FormField("Hours/month", TextField("120", id="rent-hours", compact=True), name="hours")
            yield FormField("$/kWh", TextField(f"{kwh}", id="rent-kwh", compact=True), name="kwh")
        with Vertical(id="rent-body"):
            yield Static("", id="rent-verdict", markup=False)
            yield Static("", id="rent-terms", markup=False)
            yield PlotextPlot(id="rent-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.recompute()

    @on(Input.Changed)
    def _changed(self) -> None:
        self.recompute()

    def _field(self, name: str) -> FormField:
        return self.query_one(f"#field-{name}", FormField)

    def _decimal(self, name: str, widget: str, optional: bool = False) -> Decimal | None:
        text = self.query_one(f"#{widget}", Input).value.strip().replace(",", "")
        if not text and optional:
            self._field(name).set_error("")
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal(-1)
        bad = value <= 0 if name != "kwh" else value < 0
        self._field(name).set_error("a positive number" if bad else "")
        if bad:
            raise ValueError(name)
        return value

    def recompute(self) -> None:
        from planner import rent_vs_buy as rvb
        from planner.catalog.gpus import find_gpu

        try:
            price, hours = self._decimal("price", "rent-price", optional=True), self._decimal("hours", "rent-hours")
            kwh = self._decimal("kwh", "rent-kwh")
        except ValueError:
            return
        try:
            card = find_gpu(self.query_one("#rent-gpu", Input).value.strip())
            self._field("gpu").set_error("")
            owning = rvb.owning_for(card, price, Decimal(0), Decimal(30), kwh, None)
            self.result = rvb.by_hours(card.name, self.app.ctx.prices, self.app.ctx.today, float(hours), owning, YEARS)
        except TuneplanError as exc:
            self._field("gpu").set_error(str(exc))
            return
        self._draw(self.result.to_json())

    def _draw(self, payload: dict) -> None:
        own, rent, month = payload["own"], payload["rent"], payload["break_even_month"]
        self.query_one("#rent-verdict", Static).update(bold_then(payload["verdict"]))
        self.query_one("#rent-terms", Static).update(
            f"own: {payload['gpu']} ${own['purchase_usd']} ({own['purchase_source']}), ${own['usd_per_month']}/month "
            f"power, resale ${own['resale_usd']} · rent: {rent['gpus']}× {rent['gpu']} on {rent['cloud']} at "
            f"${rent['usd_per_hour']}/h (as of {rent['price_as_of']}) = ${rent['usd_per_month']}/month")
        series = payload["series"]
        plot = self.query_one("#rent-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.plot(series["month"], [float(v) for v in series["own_usd"]], label="own")
        plt.plot(series["month"], [float(v) for v in series["rent_usd"]], label="rent")
        if month is not None:
            plt.vline(month)
            plt.title(f"Cumulative cost (USD): break-even in month {month}")
        else:
            plt.title("Cumulative cost (USD): no break-even within the horizon")
        plt.xlabel("month")
        plot.refresh()
