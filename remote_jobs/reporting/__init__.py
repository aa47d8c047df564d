"""Cost reports for finance, from the ledger only: one report model (``build_report`` → ``Report``) and one
module per output format (``to_table``, ``to_csv``, ``to_json``, ``to_xlsx``, ``to_html``, ``to_pdf``).

Importing this package loads no spreadsheet library, UI toolkit or browser: the XLSX writer imports
openpyxl inside its function, and the PDF converter is a subprocess found when asked for.
"""

from remote_jobs.reporting.model import BREAKDOWNS, Filters, MonthTotal, Report, ReportOptions, build_report
from remote_jobs.reporting.period import Period, month_period, parse_period
from remote_jobs.reporting.totals import DIMENSIONS

__all__ = ["BREAKDOWNS", "DIMENSIONS", "Filters", "MonthTotal", "Period", "Report", "ReportOptions", "build_report",
           "month_period", "parse_period"]
