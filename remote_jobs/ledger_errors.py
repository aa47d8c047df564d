"""What can go wrong with a ledger, as one-line errors a person can act on (exit code 2, no traceback)."""

from __future__ import annotations

from planner.errors import BadInput


class LedgerDamaged(BadInput):
    """The ledger cannot be read as a ledger (a damaged disk image, another file, another database)."""

    title = "damaged ledger"


class LedgerUnavailable(BadInput):
    """The ledger cannot be reached now: a file locked past the busy timeout, a database server that is down."""

    title = "ledger unavailable"


class LedgerReadOnly(BadInput):
    """This database role may read the ledger but not change it (a finance user's role)."""

    title = "read-only ledger"


class LedgerTimeout(BadInput):
    """A ledger query ran past the statement timeout."""

    title = "ledger timeout"


class BudgetExhausted(BadInput):
    """A launch whose estimate does not fit in what a team budget has left (spent + committed)."""

    title = "over the team budget"
