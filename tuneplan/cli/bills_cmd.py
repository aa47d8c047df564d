"""``tuneplan bills``: ask the providers again for the bills of finished runs that have none yet (bills
arrive hours late; the ledger keeps rate × time until then). The rules are in ``remote_jobs.bills``."""

from __future__ import annotations

from typing import Optional

from tuneplan.cli.run_options import LEDGER_OPTION, open_ledger


def bills(ledger: Optional[str] = LEDGER_OPTION) -> None:
    from planner.errors import BadInput
    from providers.registry import get_provider
    from remote_jobs.bills import refresh_bills, waiting_for_a_bill
    from remote_jobs.money import show_usd
    from tuneplan.cli.render_run import console

    book = open_ledger(ledger)
    wanted = sorted({r.provider for r in book.runs() if waiting_for_a_bill(r)})
    providers = {}
    for name in wanted:
        try:
            providers[name] = get_provider(name)
        except (BadInput, ImportError) as exc:
            console.print(f"{name}: not asked ({' '.join(str(exc).split())})")
    reads = refresh_bills(book, providers)
    if not reads:
        console.print("no finished run is waiting for a bill")
        return
    for read in reads:
        outcome = (f"billed {show_usd(read.billed_usd)}" if read.billed_usd is not None
                   else f"not billed yet{': ' + read.problem if read.problem else ''}")
        console.print(f"{read.provider}/{read.run_id}: {outcome}")
    got = sum(1 for read in reads if read.billed_usd is not None)
    console.print(f"{got} of {len(reads)} runs now have the provider's bill")
