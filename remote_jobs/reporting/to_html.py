"""The report as one self-contained HTML page: summary cards, budget warnings, inline SVG charts, every
table, and the run lines; printable (A4 landscape) and the source of the PDF.

Self-contained means nothing is fetched: no script, no stylesheet or font link, no image URL; the CSS is
inline and the charts are SVG text. Every text from the ledger is HTML-escaped.
"""

from __future__ import annotations


from remote_jobs.clock import iso
from remote_jobs.reporting.model import Report
from remote_jobs.reporting.svg import bar_chart, column_chart
from remote_jobs.reporting.text import html_text as escape
from remote_jobs.reporting.text import count, hours, pct, usd
from remote_jobs.reporting.to_table import TextTable, accuracy_rows, summary_rows, tables

STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bar: #2f6fb3; --warn: #fff4ce; --over: #fde2dd; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 24px auto; max-width: 1180px; padding: 0 16px; font-size: 14px; line-height: 1.35; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 26px 0 8px; }
.meta, .note, footer { color: var(--muted); font-size: 12px; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; } .card .value { font-size: 20px; font-weight: 600; }
.alert { border-radius: 6px; padding: 8px 12px; margin: 6px 0; background: var(--warn); }
.alert.over { background: var(--over); } .alert.info { background: #eef2f7; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; align-items: start; }
.charts .wide { grid-column: 1 / span 2; }
svg.chart { width: 100%; height: auto; } svg .bar { fill: var(--bar); } svg .grid { stroke: var(--line); }
svg text { font-size: 11px; fill: var(--ink); } svg .title { font-size: 13px; font-weight: 600; }
svg .axis { fill: var(--muted); } svg .value { font-size: 10px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; white-space: nowrap; }
th { background: #f5f7fa; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-top: 2px solid var(--ink); }
tr.warn td { background: var(--warn); } tr.over td { background: var(--over); }
table.kv td:first-child { color: var(--muted); width: 210px; } table.kv td { white-space: normal; }
#runs { font-size: 11px; }
@page { size: A4 landscape; margin: 12mm 12mm 16mm;
  @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 9px; color: #555; } }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section { break-inside: avoid-page; } section.long { break-inside: auto; }
  thead { display: table-header-group; } tr { break-inside: avoid; } h2 { break-after: avoid; }
  tfoot { display: table-row-group; } /* the grand total once, after the last line, not at the foot of every page */
}
"""



def _table(table: TextTable, row_classes: list[str] | None = None) -> str:
    def cells(values: tuple[str, ...], tag: str) -> str:
        return "".join(f"<{tag}{_class('num' if i in table.numeric else '')}>{escape(v)}</{tag}>"
                       for i, v in enumerate(values))

    head = f"<thead><tr>{cells(table.columns, 'th')}</tr></thead>"
    classes = row_classes or [""] * len(table.rows)
    body = "".join(f"<tr{_class(c)}>{cells(row, 'td')}</tr>" for row, c in zip(table.rows, classes, strict=True))
    foot = f"<tfoot><tr>{cells(table.total, 'td')}</tr></tfoot>" if table.total else ""
    return f'<table id="{table.key}">{head}<tbody>{body}</tbody>{foot}</table>'


def _class(name: str) -> str:
    return f' class="{name}"' if name else ""


def _kv(rows: list[tuple[str, str]], table_id: str) -> str:
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv" id="{table_id}"><tbody>{body}</tbody></table>'


def _cards(report: Report) -> str:
    t = report.total
    cards = [("cost", usd(t.cost_usd)), ("runs", count(t.runs)), ("GPU-hours", f"{t.gpu_hours:,.1f}"),
             ("vs estimate", pct(t.usd_error_pct, signed=True)), ("waste", usd(t.waste_usd)),
             ("committed", usd(t.committed_usd))]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div></div>'
        for label, value in cards) + "</div>"


def _alerts(report: Report) -> str:
    out = [f'<div class="alert info">{escape(note)}</div>' for note in report.notes]
    out += [f'<div class="alert {b.level}">{escape(b.message)}</div>' for b in report.budgets if b.level != "ok"]
    out += [f'<div class="alert warn">{escape(alert)}</div>' for alert in report.alerts]
    return "\n".join(out)


def _charts(report: Report) -> str:
    trend = column_chart("chart-month", "Spend by month (USD)", [m.month for m in report.trend],
                         [m.totals.cost_usd for m in report.trend], width=1100, height=300)
    projects = report.breakdowns["project"]
    providers = report.breakdowns["provider"]
    by_project = bar_chart("chart-project", "Spend by project", [g.label for g in projects],
                           [g.totals.cost_usd for g in projects], width=560)
    by_provider = bar_chart("chart-provider", "Spend by provider", [g.label for g in providers],
                            [g.totals.cost_usd for g in providers], width=560)
    return (f'<div class="charts"><div class="wide">{trend}</div><div>{by_project}</div>'
            f'<div>{by_provider}</div></div>')


def to_html(report: Report, with_runs: bool = True) -> str:
    """The page; ``with_runs=False`` leaves the run lines out (a PDF of 10,000 runs is hundreds of pages)."""
    parts = [f"<header><h1>{escape(report.title)}</h1>",
             f'<p class="meta">From the tuneplan ledger · generated {escape(iso(report.generated_at) or "")} · '
             f'filters: {escape(report.filters.describe() or "none")} · amounts in USD</p></header>',
             _alerts(report), _cards(report), f"<section>{_charts(report)}</section>",
             f"<section><h2>Summary</h2>{_kv(summary_rows(report), 'summary')}</section>",
             f"<section><h2>Estimate vs actual</h2>{_kv(accuracy_rows(report), 'accuracy')}</section>"]
    for table in tables(report, with_runs=with_runs):
        classes = [b.level if b.level != "ok" else "" for b in report.budgets] if table.key == "budgets" else None
        notes = "".join(f'<p class="note">{escape(n)}</p>' for n in table.notes if table.key != "budgets")
        long = ' class="long"' if table.key == "runs" else ""
        parts.append(f"<section{long}><h2>{escape(table.title)}</h2>{_table(table, classes)}{notes}</section>")
    if not with_runs and report.lines:
        parts.append(f'<p class="note">{len(report.lines):,} run lines left out here: the CSV and XLSX formats '
                     "list every run with every column.</p>")
    parts.append("<footer><p>Each run's amounts are rounded to the cent once; every total is the sum of its lines. "
                 "Cost is what the provider billed where it did, else the recorded rate × the run's time. "
                 f"Committed: open runs at their rate until their estimated end. Hours: {hours(report.total.hours)} "
                 "of machine time.</p></footer>")
    body = "\n".join(p for p in parts if p)
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(report.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
