"""Report periods: a calendar month, a quarter, or a from/to range of dates, as a half-open UTC interval.

Why one place: the CLI flags, the TUI and the trend/budget arithmetic must agree on what "November" means
(from the first instant of the month, up to but not including the first instant of the next one, in UTC
unless ``--tz`` names another zone). "This month" comes from an injected clock, never from today's date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal

from planner.errors import BadInput


@dataclass(frozen=True)
class Period:
    """[start, end), with the label people read ("2026-11", "2026-Q4", "2026-09-01 to 2026-11-30") and the time zone
    whose midnights bound it (UTC unless ``--tz``)."""

    start: datetime
    end: datetime
    label: str
    tz: tzinfo = timezone.utc

    @property
    def zone(self) -> str:
        """The zone's name as a header shows it: UTC, Europe/Berlin."""
        return zone_name(self.tz)

    @property
    def key(self) -> str:
        """The label, with the zone when it is not UTC: two reports of "2026-11" in two zones are two periods."""
        return self.label if self.zone == "UTC" else f"{self.label} {self.zone}"

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    @property
    def last_month(self) -> str:
        """The calendar month of the period's last instant (``YYYY-MM``): where trends end."""
        return month_label(self.end - timedelta(microseconds=1), self.tz)

    def month_fractions(self) -> list[tuple[str, Decimal]]:
        """Each calendar month the period touches, with the share of that month it covers (1 for a whole one)."""
        out = []
        month = first_of_month(self.start, self.tz)
        while month < self.end:
            following = add_months(month, 1, self.tz)
            covered = min(self.end, following) - max(self.start, month)
            share = Decimal(covered.total_seconds()) / Decimal((following - month).total_seconds())
            out.append((month_label(month, self.tz), share))
            month = following
        return out


UTC = timezone.utc


def zone_name(tz: tzinfo) -> str:
    return "UTC" if tz in (timezone.utc,) or str(tz) in ("UTC", "Etc/UTC") else str(tz)


def parse_zone(name: str | None) -> tzinfo:
    """``--tz``: an IANA zone name (Europe/Berlin, America/New_York) or UTC."""
    if not name or name.strip().upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        from planner.suggest import did_you_mean

        raise BadInput(f"--tz must be a time zone name like Europe/Berlin or UTC, got {name!r}"
                       f"{did_you_mean(name.strip(), sorted(available_timezones()))}") from None


def month_label(moment: datetime, tz: tzinfo = UTC) -> str:
    return moment.astimezone(tz).strftime("%Y-%m")


def first_of_month(moment: datetime, tz: tzinfo = UTC) -> datetime:
    moment = moment.astimezone(tz)
    return datetime(moment.year, moment.month, 1, tzinfo=tz)


def add_months(moment: datetime, months: int, tz: tzinfo = UTC) -> datetime:
    """The first instant of the month ``months`` after the month of ``moment`` (negative goes back)."""
    moment = moment.astimezone(tz)
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)


def month_period(month: str, tz: tzinfo = UTC) -> Period:
    """``YYYY-MM`` as a period."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadInput(f"--month must look like 2026-11, got {month!r}")
    start = datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=tz)
    return Period(start, add_months(start, 1, tz), month.strip(), tz)


def quarter_period(text: str, now: datetime, tz: tzinfo = UTC) -> Period:
    """``2026-Q4``, ``2026Q4``, ``Q4-2026`` or ``Q4`` (this year, by the clock)."""
    cleaned = text.strip().upper().replace(" ", "")
    match = (re.fullmatch(r"(\d{4})-?Q([1-4])", cleaned) or re.fullmatch(r"Q([1-4])-?(\d{4})", cleaned)
             or re.fullmatch(r"Q([1-4])", cleaned))
    if not match:
        raise BadInput(f"--quarter must look like 2026-Q4 (or Q4 for this year), got {text!r}")
    parts = match.groups()
    if len(parts) == 1:
        year, quarter = now.astimezone(tz).year, int(parts[0])
    elif cleaned.startswith("Q"):
        quarter, year = int(parts[0]), int(parts[1])
    else:
        year, quarter = int(parts[0]), int(parts[1])
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=tz)
    return Period(start, add_months(start, 3, tz), f"{year}-Q{quarter}", tz)


def _day(text: str, flag: str, is_end: bool, tz: tzinfo = UTC) -> datetime:
    """A date (``2026-09-01``) or a month (``2026-09``); an end date includes its whole day or month."""
    cleaned = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}", cleaned):
        whole = month_period(cleaned, tz)
        return whole.end if is_end else whole.start
    try:
        day = date.fromisoformat(cleaned)
    except ValueError:
        raise BadInput(f"{flag} must be a date like 2026-09-01 (or a month like 2026-09), got {text!r}") from None
    moment = datetime(day.year, day.month, day.day, tzinfo=tz)
    return moment + timedelta(days=1) if is_end else moment


def range_period(date_from: str | None, date_to: str | None, now: datetime, tz: tzinfo = UTC) -> Period:
    """``--from``/``--to`` (both inclusive); a missing end is the clock's now, a missing start the year's first day."""
    start = (_day(date_from, "--from", False, tz) if date_from
             else datetime(now.astimezone(tz).year, 1, 1, tzinfo=tz))
    end = _day(date_to, "--to", True, tz) if date_to else now
    if end <= start:
        raise BadInput(f"--to must come after --from ({date_from or start.date()} .. {date_to or 'now'})")
    last_day = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return Period(start, end, f"{start.date().isoformat()} to {last_day.isoformat()}", tz)


def parse_period(now: datetime, month: str | None = None, date_from: str | None = None, date_to: str | None = None,
                 quarter: str | None = None, tz: tzinfo = UTC) -> Period:
    """The period the flags ask for; none of them means the clock's current month."""
    asked = [name for name, value in (("--month", month), ("--quarter", quarter)) if value]
    if date_from or date_to:
        asked.append("--from/--to")
    if len(asked) > 1:
        raise BadInput(f"give one of --month, --quarter or --from/--to, not {' and '.join(asked)}")
    if month:
        return month_period(month, tz)
    if quarter:
        return quarter_period(quarter, now, tz)
    if date_from or date_to:
        return range_period(date_from, date_to, now, tz)
    return month_period(month_label(now, tz), tz)


def trend_months(period: Period, count: int) -> list[Period]:
    """The ``count`` calendar months that end with the period's last month, oldest first."""
    tz = period.tz
    last = month_period(period.last_month, tz).start
    return [month_period(month_label(add_months(last, -back, tz), tz), tz) for back in range(count - 1, -1, -1)]
