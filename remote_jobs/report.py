"""The cost report's public entry point (kept at this path for the callers that import it): the one model
lives in ``remote_jobs.reporting``; the formats in its ``to_*`` modules.

    from remote_jobs.report import build_report, Filters, parse_period
    report = build_report(ledger, "2026-11", ["project"], Filters(provider=("runpod",)), settings, clock)
    report.total.cost_usd, report.breakdowns["owner"], report.budgets, report.warnings
"""

from __future__ import annotations

from datetime import datetime

from remote_jobs.reporting import (
    BREAKDOWNS,
    DIMENSIONS,
    Filters,
    MonthTotal,
    Period,
    Report,
    ReportOptions,
    build_report,
    month_period,
    parse_period,
)


def month_range(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of ``YYYY-MM`` in UTC."""
    period = month_period(month)
    return period.start, period.end


__all__ = ["BREAKDOWNS", "DIMENSIONS", "Filters", "MonthTotal", "Period", "Report", "ReportOptions", "build_report",
           "month_period", "month_range", "parse_period"]
