"""Money in the ledger: integer micro-dollars on disk, ``Decimal`` in code, never float dollars."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICRO = Decimal("0.000001")


def to_micros(amount: Decimal | None) -> int | None:
    if amount is None:
        return None
    return int((Decimal(amount) / MICRO).to_integral_value(rounding=ROUND_HALF_UP))


def from_micros(value: object) -> Decimal | None:
    """Lenient: a stored value that is not a whole number reads as None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return (Decimal(int(value)) * MICRO).quantize(MICRO)
    except (ValueError, TypeError, InvalidOperation):
        return None


def dollars(value: float | str | Decimal | None) -> Decimal | None:
    """A user's dollar figure (a spec's ``max_total_usd``) as Decimal, through its text form."""
    return None if value is None else Decimal(str(value))


def show_usd(amount: Decimal | None) -> str:
    """$12.34, or six decimals for the fractions of a cent that local runs cost: always six, so a live figure
    and the final one never change precision under the reader's eyes ($0.000050, then $0.000089)."""
    if amount is None:
        return "-"
    if amount != 0 and abs(amount) < Decimal("0.01"):
        return f"${amount.quantize(Decimal('0.000001'), rounding=ROUND_HALF_UP)}"
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def show_rate(usd_per_hour: Decimal | None) -> str:
    """An hourly price the same way everywhere: $3.95/h, $0.34/h, $0.024/h (two significant figures under
    ten cents: a local machine's electricity)."""
    if usd_per_hour is None:
        return "-"
    if usd_per_hour >= Decimal("0.10") or usd_per_hour == 0:
        return f"${usd_per_hour.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}/h"
    places = max(2, -usd_per_hour.adjusted() + 1)
    return f"${usd_per_hour.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}/h"


def cost_for(usd_per_hour: Decimal | None, seconds: float | None) -> Decimal | None:
    """Rate × duration, to the micro-dollar."""
    if usd_per_hour is None or seconds is None:
        return None
    return (usd_per_hour * Decimal(repr(round(max(seconds, 0.0), 3))) / 3600).quantize(MICRO, rounding=ROUND_HALF_UP)
