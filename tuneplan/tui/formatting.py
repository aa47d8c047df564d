"""Short text for numbers on screen (hours, dollars, GiB, price sources); no textual.

``plain_cell`` and ``bold_then`` are the way outside text (run ids, failure reasons, project names, model
ids) reaches a widget: as rich ``Text``, never as a string that Textual would read as markup.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from rich.text import Text

from providers.plain_text import plain


def plain_cell(value: object) -> Text:
    """A table cell or label that shows ``value`` exactly (minus control characters), never as markup."""
    return Text(plain(value, keep_newlines=False))


def bold_then(head: object, rest: object = "") -> Text:
    """``head`` in bold, then ``rest``; both plain text."""
    return Text.assemble((plain(head), "bold"), plain(rest))


def hours_text(hours: float | None) -> str:
    if hours is None:
        return "—"
    if hours * 60 < 1:
        return "< 1 min"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 100 else f"{hours:,.0f} h"


def usd_text(value: Decimal | str | None) -> str:
    if value is None:
        return "—"
    amount = Decimal(str(value))
    if 0 < amount < Decimal("0.01"):  # a local run's electricity: two significant figures, never "$0.00"
        if amount < Decimal("0.000001"):
            return "< $0.000001"
        places = max(2, -amount.adjusted() + 1)
        return f"${amount:.{places}f}"
    return f"${amount:,.2f}" if amount < 1000 else f"${amount:,.0f}"


def elapsed_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def count_text(value: float) -> str:
    """7.62 B, 40.4 M, 16.4 k."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:g}"


def short_source(source: str) -> str:
    """The first words of a price source (its host or catalog), enough to tell where a price came from."""
    text = source.replace("https://", "").replace("http://", "").split(" (")[0]  # never half a bracket
    head = text.split()[0] if text.split() else ""
    return head.split("/")[0] if "/" in head and "." in head.split("/")[0] else " ".join(text.split()[:3])


def as_of_text(when: date | str) -> str:
    return when.isoformat() if isinstance(when, date) else str(when)
