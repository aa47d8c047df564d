"""The report's files: the XLSX opens with openpyxl (sheets, numbers with currency formats, native charts) and
the HTML is well-formed, self-contained and renders in headless Chromium (screenshot and PDF). Both
reconcile with the ledger to the cent.

Chromium is a test dependency (``make test`` installs the Debian package): these tests fail, not skip,
without it (CONTRACTS §8).
"""

from __future__ import annotations

import subprocess
import zipfile
from decimal import Decimal
from html.parser import HTMLParser
import pytest

from remote_jobs.ledger import Ledger
from remote_jobs.reporting import Filters, ReportOptions, build_report
from remote_jobs.reporting.text import parse_usd
from remote_jobs.reporting.to_html import to_html
from remote_jobs.reporting.to_pdf import chromium_command, find_converter, html_to_pdf
from remote_jobs.reporting.to_xlsx import USD, write_xlsx
from tests.pg import BACKENDS, ledger_at
from tests.ledger_seed import FixedClock, ledger_spend, seed_records, write_ledger

OPTIONS = ReportOptions(budgets={"support": Decimal(40), "search": Decimal(60), "vision": Decimal(500)})


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request, tmp_path_factory):
    """The seeded ledger on each backend: a SQLite file, and a schema of the PostgreSQL test server."""
    with ledger_at(request.param, tmp_path_factory.mktemp("seed")) as where:
        yield write_ledger(where, seed_records(320))


@pytest.fixture(scope="module")
def november(seeded):
    return build_report(Ledger(seeded), "2026-11", ("project",), None, OPTIONS, FixedClock())


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory):
    """The seeded ledger as a SQLite file: for the tests that render (Chromium), where the backend plays no part."""
    return write_ledger(tmp_path_factory.mktemp("seed-file") / "ledger.sqlite3", seed_records(320))


@pytest.fixture(scope="module")
def november_file(seeded_file):
    return build_report(Ledger(seeded_file), "2026-11", ("project",), None, OPTIONS, FixedClock())


def _expected(seeded, report) -> Decimal:
    """The report's total cost, once it is checked against the ledger's own sum (``ledger_spend``)."""
    spend = ledger_spend(seeded, report.period.start, report.period.end)
    assert spend.matches(report.total.cost_usd), (report.total.cost_usd, spend)
    return report.total.cost_usd


# --- XLSX ---------------------------------------------------------------------------------------------------
def test_the_workbook_has_its_sheets_numbers_formats_and_charts(seeded, november, tmp_path):
    from openpyxl import load_workbook

    path = write_xlsx(november, tmp_path / "nov.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["Summary", "Trend", "Runs", "Budgets", "Accuracy", "Groups"]
    runs = book["Runs"]
    header = [c.value for c in runs[1]]
    cost_cells = [row[header.index("cost_usd")] for row in runs.iter_rows(min_row=2)]
    assert len(cost_cells) == len(november.lines)
    numbers = [c for c in cost_cells if c.value is not None]
    assert numbers and all(isinstance(c.value, (int, float)) and c.number_format == USD for c in numbers)
    summary = {row[0].value: row[1] for row in book["Summary"].iter_rows() if row[0].value and len(row) > 1}
    total_cell = summary["cost (billed, else rate × time)"]
    assert total_cell.number_format == USD and isinstance(total_cell.value, (int, float))
    expected = _expected(seeded, november)
    assert round(Decimal(str(sum(c.value for c in numbers))), 4) == Decimal(str(total_cell.value)) == expected
    budgets = {row[0].value: row for row in book["Budgets"].iter_rows(min_row=2)}
    assert set(budgets) == {"support", "search", "vision"}
    assert {name: row[7].value for name, row in budgets.items()} == {b.project: b.level for b in november.budgets}
    assert budgets["search"][6].number_format == '0.0" %"', "12.5 stored for 12.5 %, as in the CSV"
    used = {b.project: float(b.used_pct) for b in november.budgets}
    assert budgets["search"][6].value == used["search"]
    charts = book["Summary"]._charts
    assert len(charts) == 2 and {c.tagname for c in charts} == {"barChart"}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert {"xl/charts/chart1.xml", "xl/charts/chart2.xml"} <= set(names)
        chart_xml = archive.read("xl/charts/chart1.xml").decode()
        assert "'Trend'!" in chart_xml and "<barChart>" in chart_xml, "a native bar chart over the Trend sheet"


def test_an_empty_period_still_writes_a_workbook(seeded, tmp_path):
    from openpyxl import load_workbook

    report = build_report(Ledger(seeded), "2024-02", (), Filters(owner=("nobody",)), OPTIONS, FixedClock())
    book = load_workbook(write_xlsx(report, tmp_path / "empty.xlsx"))
    assert book["Runs"].max_row == 1
    assert any("no runs in 2024-02" in str(c.value) for row in book["Summary"].iter_rows() for c in row)


# --- HTML ---------------------------------------------------------------------------------------------------
VOID = {"meta", "br", "hr", "img", "input", "link", "line", "rect", "path", "circle", "col", "wbr"}


class _Checker(HTMLParser):
    """Well-formedness (every tag closed, in order), unique ids, external references, and table cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self._table: str | None = None
        self._part = "tbody"
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
            if name in ("src", "href", "xlink:href", "action", "data", "poster") or (value and "url(" in value):
                self.external.append(f"{tag} {name}={value}")
        if tag == "table":
            self._table = dict(attrs).get("id")
            self.tables[self._table] = {"thead": [], "tbody": [], "tfoot": []}
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif tag == "tr" and self._table:
            self.tables[self._table][self._part].append([])
        elif tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href"):
                self.external.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][self._part][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def check_html(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    return checker


def test_the_html_is_well_formed_self_contained_and_reconciles(seeded, november):
    text = to_html(november)
    assert text.startswith("<!DOCTYPE html>")
    page = check_html(text)
    assert page.errors == [] and page.stack == [], "every tag closed, in order"
    assert len(page.ids) == len(set(page.ids))
    assert page.external == [] and "script" not in page.tags and "link" not in page.tags
    assert "@import" not in text and "url(" not in text
    assert {"svg", "rect", "style"} <= page.tags and {"chart-month", "chart-project", "chart-provider"} <= set(page.ids)
    runs = page.tables["runs"]
    cost = runs["thead"][0].index("cost")
    lines = sum(parse_usd(row[cost]) for row in runs["tbody"] if row[cost] != "-")
    expected = _expected(seeded, november)
    assert lines == parse_usd(runs["tfoot"][0][cost]) == expected
    groups = page.tables["groups"]
    gcost = groups["thead"][0].index("cost")
    assert sum(parse_usd(r[gcost]) for r in groups["tbody"]) == parse_usd(groups["tfoot"][0][gcost]) == expected
    assert [r[0] for r in page.tables["budgets"]["tbody"]] == ["search", "support", "vision"]
    for warning in november.warnings:
        assert warning.split(":")[0] in text


def test_ledger_text_is_escaped(tmp_path):
    from remote_jobs.records import RunRecord
    from tests.ledger_seed import NOW

    record = RunRecord(run_id="x-1", project="<script>alert(1)</script>", owner='"&', provider="local", created_at=NOW)
    text = to_html(build_report([record], "2026-11", (), None, ReportOptions(rent_vs_buy=False), FixedClock()))
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert check_html(text).errors == []


def _browser() -> str:
    browser = find_converter()
    assert browser, "Chromium is missing: `make test` installs it (apt-get install chromium)"
    return browser


def test_the_html_renders_in_headless_chromium(november_file, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(to_html(november_file), encoding="utf-8")
    shot = tmp_path / "report.png"
    command = chromium_command(_browser(), page, tmp_path / "profile")
    command[-1:-1] = ["--window-size=1280,2000", f"--screenshot={shot}"]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    width, height, ink = _png_facts(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    assert ink > 0.01, "something was drawn (not a blank page)"


def _png_facts(data: bytes) -> tuple[int, int, float]:
    """(width, height, share of non-zero bytes in the filtered scanlines): a blank page is ~0."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    position, idat = 8, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"IDAT":
            idat += data[position + 8:position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(idat)
    return width, height, sum(1 for b in raw[::7] if b) / len(raw[::7])


def test_the_pdf_is_printed_by_chromium(november_file, tmp_path):
    from pypdf import PdfReader

    _browser()
    pdf = html_to_pdf(to_html(november_file, with_runs=True), tmp_path / "nov.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = [page.extract_text() for page in PdfReader(pdf).pages]
    assert len(pages) >= 2
    for number, text in enumerate(pages, 1):
        assert f"page {number} of {len(pages)}" in text, "every page numbered"
    runs_total = f"total {november_file.total.runs} runs"
    holding = [number for number, text in enumerate(pages, 1) if runs_total in " ".join(text.split())]
    assert len(holding) == 1, "the runs' grand total once, after the last run, not at the foot of every page"


def test_without_a_converter_pdf_says_how_to_get_one(november_file, tmp_path, monkeypatch):
    from planner.errors import BadInput

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BadInput, match="apt-get install chromium"):
        html_to_pdf(to_html(november_file), tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


def test_the_report_command_prints_a_pdf(capsys, seeded_file, tmp_path, monkeypatch):
    from tests.cli_inprocess import run_cli

    _browser()
    monkeypatch.setenv("TUNEPLAN_NOW", "2026-11-26T12:00:00Z")
    out = tmp_path / "nov.pdf"
    code, _, err = run_cli(capsys, "report", "--ledger", str(seeded_file), "--pdf", "--output", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(b"%PDF-") and f"wrote {out}" in err
