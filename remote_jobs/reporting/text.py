"""How report figures are written as text, the same way in the terminal table, the HTML and the PDF."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from providers.plain_text import plain


def html_text(value: object) -> str:
    """Ledger text (names people typed, reasons remote machines gave) for HTML: escaped, and without escape
    sequences or control characters."""
    return escape(plain(value))


def usd(amount: Decimal | None) -> str:
    """$1,234.5600: the report's one money format, to a hundredth of a cent, which is the precision of its lines
    (``allocate``), so the lines a reader sees add up to the totals she sees; "-" when unknown."""
    if amount is None:
        return "-"
    sign = "−" if amount < 0 else ""
    return f"{sign}${abs(amount):,.4f}"


def signed_usd(amount: Decimal | None) -> str:
    if amount is None:
        return "-"
    return ("+" if amount >= 0 else "−") + f"${abs(amount):,.4f}"


def pct(value: float | Decimal | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f} %" if signed else f"{value:.1f} %"


def hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f} h"


def runs(value: int) -> str:
    return f"{value:,} run" + ("" if value == 1 else "s")


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def parse_usd(text: str) -> Decimal:
    """The inverse of ``usd``/``signed_usd`` (tests read rendered reports back with it)."""
    cleaned = text.strip().replace(",", "").replace("$", "").replace("−", "-").replace("+", "")
    return Decimal(cleaned)
