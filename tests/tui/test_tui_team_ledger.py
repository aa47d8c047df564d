"""Issue 17: a finance user whose database role may only read the team ledger opens the Report screen."""

from __future__ import annotations

import re
from decimal import Decimal

from textual.widgets import DataTable, Static

from tests.tui.conftest import MACHINE, SIZE, FixedClock


async def test_a_read_only_role_opens_the_report_screen():
    from providers.prices_refresh import snapshot
    from tests.ledger_seed import NOW as SEED_NOW
    from tests.ledger_seed import ledger_spend, seed_records, write_ledger
    from tests.pg import read_only_role
    from tuneplan.tui.app import make_app

    with read_only_role(lambda url: write_ledger(url, seed_records(200, seed=9))) as (finance, owner):
        app = make_app(ledger_path=finance, clock=FixedClock(SEED_NOW), prices=snapshot(), machine=MACHINE)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f6")
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause(0.3)
            table = app.screen.query_one("#report-project", DataTable)
            assert table.row_count > 1 and str(table.get_row("total")[0]) == "total"
            start = SEED_NOW.replace(day=1, hour=0)
            summary = str(app.screen.query_one("#report-summary", Static).render())
            shown = re.search(r"\$([\d,]+\.\d{4})", summary)
            assert shown, summary
            spend = ledger_spend(owner, start, start.replace(month=start.month + 1))
            assert spend.matches(Decimal(shown.group(1).replace(",", ""))), (summary, spend)
