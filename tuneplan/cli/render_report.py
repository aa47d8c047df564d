"""Draws the report in the terminal with rich: the summary, warnings, then the plain tables that
``remote_jobs.reporting.to_table`` built (no figure is computed here)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

AUTO_LINES = 50


def report_width(asked: Optional[int]) -> Optional[int]:
    """The width to draw at: ``--width``; else the terminal's (None: rich measures it); else, when the output is
    piped, $COLUMNS or the width of the terminal the command was typed in (stderr's or stdin's), so
    ``tuneplan report | less`` is drawn for the screen it lands on; else 120."""
    import os
    import sys

    if asked:
        return asked
    if sys.stdout.isatty():
        return None
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    for stream in (sys.stderr, sys.stdin):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            continue
    return 120


def print_report(result, lines: Optional[bool], output: Optional[Path] = None, width: Optional[int] = None) -> None:
    from tuneplan.cli.output import make_console

    if output is None:
        _draw(make_console(width=report_width(width)), result, lines)
        return
    with output.open("w", encoding="utf-8") as handle:
        _draw(make_console(file=handle, width=width or 160, color_system=None), result, lines)
    import sys

    sys.stderr.write(f"wrote {output}\n")


def _draw(console, result, lines: Optional[bool]) -> None:
    from rich import box
    from rich.table import Table

    from remote_jobs.reporting.to_table import accuracy_rows, summary_rows, tables
    from tuneplan.cli.output import styled

    console.print(result.title, style="bold")
    for note in result.notes:
        console.print(note, style="dim")
    for warning in result.warnings:
        console.print(styled(("warning:", "bold yellow"), f" {warning}"))
    if result.empty:
        return
    facts = Table(box=None, show_header=False, padding=(0, 1))
    for label, value in [*summary_rows(result), *accuracy_rows(result)]:
        facts.add_row(styled((label, "dim")), value)
    console.print(facts)
    show_runs = lines if lines is not None else len(result.lines) <= AUTO_LINES
    for text_table in tables(result, with_runs=show_runs):
        table = Table(title=text_table.title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                      header_style="bold", show_footer=text_table.total is not None)
        for index, name in enumerate(text_table.columns):
            footer = text_table.total[index] if text_table.total else ""
            numeric = index in text_table.numeric
            # a figure is never cut short: its column is as wide as its widest cell, text columns fold instead
            widest = max([len(footer), *(len(row[index]) for row in text_table.rows)]) if numeric else None
            table.add_column(name, footer=footer, justify="right" if numeric else "left", no_wrap=numeric or index == 0,
                             overflow="fold", min_width=widest)
        for row in text_table.rows:
            table.add_row(*row)
        console.print(table)
        for note in text_table.notes:
            if text_table.key != "budgets":
                console.print(note, style="dim")
    if not show_runs:
        console.print(f"{len(result.lines)} runs: --lines lists them, --format csv/xlsx has every column", style="dim")
    _group_lines(console, result)


def _group_lines(console, result) -> None:
    """One line per group and the total, short enough to paste into a message."""
    from remote_jobs.reporting.text import hours, runs, usd

    by = " × ".join(result.group_by)
    for group in [*result.groups, None]:
        totals = group.totals if group else result.total
        label = f"{by} {group.label}" if group else "total"
        unfinished = f" ({totals.unfinished} unfinished)" if totals.unfinished else ""
        console.print(f"{label}: {runs(totals.runs)}{unfinished}, {hours(totals.hours)}, cost {usd(totals.cost_usd)}, "
                      f"estimated {usd(totals.estimate_usd)}")
