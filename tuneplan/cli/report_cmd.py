"""``tuneplan report``: what was spent, from the ledger only, for finance.

    tuneplan report                                   # this month (by the injected clock, UTC), as a table
    tuneplan report --month 2026-11 --by project --by owner
    tuneplan report --quarter 2026-Q3 --provider runpod --state failed --format csv > q3-failed.csv
    tuneplan report --from 2026-01-01 --to 2026-06-30 --format xlsx --output h1.xlsx
    tuneplan report --format html --output nov.html   # one self-contained page; --pdf prints it to PDF

The figures come from ``remote_jobs.reporting.build_report`` (the same model the TUI's Report screen uses);
this module only parses flags, loads the budgets from the settings and writes the chosen format.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput
from tuneplan.cli.choices import check_choice
from tuneplan.cli.run_options import LEDGER_OPTION, clock, open_existing_ledger

FORMATS = ("table", "csv", "json", "xlsx", "html", "focus")
PDF_AUTO_LINES = 500


def report(
    month: Optional[str] = typer.Option(None, "--month", help="YYYY-MM (default: this month, UTC)."),
    date_from: Optional[str] = typer.Option(None, "--from", help="First day, YYYY-MM-DD (or a month YYYY-MM)."),
    date_to: Optional[str] = typer.Option(None, "--to", help="Last day, inclusive, YYYY-MM-DD (or a month)."),
    quarter: Optional[str] = typer.Option(None, "--quarter", help="2026-Q3 (or Q3 for this year)."),
    by: list[str] = typer.Option([], "--by", help="Group by project | owner | provider | gpu | task | cloud | "
                                 "state | month | tag:KEY (a key of the specs' tags, e.g. tag:cost_center); "
                                 "repeat or separate with commas for several."),
    project: list[str] = typer.Option([], "--project", help="Only these projects (repeatable)."),
    owner: list[str] = typer.Option([], "--owner", help="Only these owners (repeatable)."),
    provider: list[str] = typer.Option([], "--provider", help="Only these providers (repeatable)."),
    state: list[str] = typer.Option([], "--state", help="Only runs in these states (repeatable)."),
    gpu: list[str] = typer.Option([], "--gpu", help="Only runs on these GPUs, canonical names (repeatable)."),
    fmt: str = typer.Option("table", "--format", help="table | csv | json | xlsx | html | pdf | focus (FOCUS-style "
                                 "CSV: one row per run per UTC day)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout "
                                          "(xlsx and pdf default to tuneplan-report-<period>.<ext>)."),
    pdf: bool = typer.Option(False, "--pdf", help="Print the HTML report to PDF with a headless Chromium."),
    lines: Optional[bool] = typer.Option(None, "--lines/--no-lines", help="List every run (default: table when "
                                         "at most 50 runs, pdf when at most 500, html always)."),
    fail_over_budget: bool = typer.Option(False, "--fail-over-budget", help="Exit with code 3 when a project is "
                                          "over its budget (spent + committed), for scripts and CI."),
    tz: Optional[str] = typer.Option(None, "--tz", help="The time zone whose midnights bound the period and its days "
                                     "(IANA name, e.g. Europe/Berlin; default UTC)."),
    as_json: bool = typer.Option(False, "--json", help="The same as --format json."),
    width: Optional[int] = typer.Option(None, "--width", min=60, max=1000, help="Draw the table this many columns "
                                        "wide (default: the terminal's, also when piped)."),
    ledger: Optional[str] = LEDGER_OPTION,
) -> None:
    from remote_jobs.reporting import Filters, build_report, parse_period
    from remote_jobs.reporting.period import parse_zone

    check_choice("--format", fmt, (*FORMATS, "pdf"))
    if as_json:
        if fmt not in ("table", "json"):
            raise BadInput(f"--json is --format json; drop --format {fmt}")
        fmt = "json"
    if fmt == "pdf":  # the same as --pdf: people reach for --format first
        fmt, pdf = "table", True
    if pdf and fmt not in ("table", "html"):
        raise BadInput(f"--pdf prints the HTML report; drop --format {fmt}")
    at = clock()
    book = open_existing_ledger(ledger, at)
    period = parse_period(at.now(), month, date_from, date_to, quarter, parse_zone(tz))
    filters = Filters(*(tuple(_split(values)) for values in (project, owner, provider, state, gpu)))
    result = build_report(book, period, _split(by), filters, _settings(), at)
    if pdf:
        _write_pdf(result, output, lines if lines is not None else len(result.lines) <= PDF_AUTO_LINES)
    elif fmt == "xlsx":
        from remote_jobs.reporting.to_xlsx import write_xlsx

        _wrote(write_xlsx(result, output or _default_name(result, "xlsx")))
    elif fmt == "table":
        from tuneplan.cli.render_report import print_report

        print_report(result, lines, output, width)
    else:
        _emit(_text(result, fmt, lines is not False), output)
    if fmt != "table" or pdf or output is not None:  # the table shows them itself; a file or a pipe must not hide them
        for warning in result.warnings:
            sys.stderr.write(f"warning: {warning}\n")
    if fail_over_budget and result.over_budget:
        raise typer.Exit(3)


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _settings():
    from providers.settings import load_settings

    return load_settings()


def _text(result, fmt: str, with_runs: bool) -> str:
    if fmt == "csv":
        from remote_jobs.reporting.to_csv import to_csv

        return to_csv(result)
    if fmt == "focus":
        from remote_jobs.reporting.to_focus import to_focus

        return to_focus(result)
    if fmt == "json":
        from remote_jobs.reporting.to_json import to_json

        return json.dumps(to_json(result), indent=2) + "\n"
    from remote_jobs.reporting.to_html import to_html

    return to_html(result, with_runs)


def _emit(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    _wrote(output)


def _write_pdf(result, output: Optional[Path], with_runs: bool) -> None:
    from remote_jobs.reporting.to_html import to_html
    from remote_jobs.reporting.to_pdf import html_to_pdf

    _wrote(html_to_pdf(to_html(result, with_runs), output or _default_name(result, "pdf")))


def _default_name(result, ext: str) -> Path:
    label = re.sub(r"[^0-9A-Za-z-]+", "_", result.period.label)
    return Path(f"tuneplan-report-{label}.{ext}")


def _wrote(path: Path) -> None:
    sys.stderr.write(f"wrote {path}\n")
