"""Benchmark: report generation on a seeded ledger of 10,000 runs (14 months), for each format.

Run: .venv/bin/python bench/bench_report.py [--runs 10000] [--repeat 3] [--period 2025-10..2026-11]
Prints the median seconds of: reading + building the model (one month, and the whole 14 months), then each
format over the whole period (table text, csv, json, xlsx, html), and with Chromium installed the PDF of the
whole period without run lines and of one month with its run lines (a PDF listing all 10,000 runs is ~300
pages and takes minutes: that is what the CSV/XLSX are for).
The ledger is written once to a temporary folder by ``tests/ledger_seed.py`` (deterministic).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_s(action, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from remote_jobs.ledger import Ledger
    from remote_jobs.reporting import build_report, parse_period
    from remote_jobs.reporting.to_csv import to_csv
    from remote_jobs.reporting.to_html import to_html
    from remote_jobs.reporting.to_json import to_json
    from remote_jobs.reporting.to_pdf import find_converter, html_to_pdf
    from remote_jobs.reporting.to_table import tables
    from remote_jobs.reporting.to_xlsx import write_xlsx
    from tests.ledger_seed import NOW, FixedClock, seed_records, write_ledger

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        path = write_ledger(folder / "ledger.sqlite3", seed_records(args.runs))
        print(f"seeded {args.runs:,} runs in {time.perf_counter() - start:.2f} s ({path.stat().st_size / 2**20:.1f} MiB)")
        ledger, clock = Ledger(path), FixedClock()
        whole = parse_period(NOW, date_from="2025-10-01", date_to="2026-11-30")
        results = {
            "model, one month": median_s(lambda: build_report(ledger, "2026-11", ("project",), None, None, clock),
                                         args.repeat),
            "model, 14 months": median_s(lambda: build_report(ledger, whole, ("project",), None, None, clock),
                                         args.repeat),
        }
        report = build_report(ledger, whole, ("project",), None, None, clock)
        print(f"{report.total.runs:,} runs in {whole.label}, cost ${report.total.cost_usd:,}")
        formats = {
            "table (text tables)": lambda: tables(report),
            "csv": lambda: to_csv(report),
            "json": lambda: json.dumps(to_json(report)),
            "xlsx": lambda: write_xlsx(report, folder / "r.xlsx"),
            "html": lambda: (folder / "r.html").write_text(to_html(report), encoding="utf-8"),
        }
        for name, action in formats.items():
            results[name] = median_s(action, args.repeat)
        if find_converter():
            summary_html = to_html(report, with_runs=False)
            results["pdf, 14 months, no run lines"] = median_s(lambda: html_to_pdf(summary_html, folder / "r.pdf"), 1)
            month = build_report(ledger, "2026-11", ("project",), None, None, clock)
            month_html = to_html(month)
            results[f"pdf, 1 month, {month.total.runs} run lines"] = median_s(
                lambda: html_to_pdf(month_html, folder / "month.pdf"), 1)
        else:
            print("pdf: no Chromium on PATH, not measured")
        for name, seconds in results.items():
            print(f"{name:32s} {seconds:8.3f} s")
        for name in ("r.xlsx", "r.html", "r.pdf", "month.pdf"):
            if (folder / name).exists():
                print(f"{name}: {(folder / name).stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
