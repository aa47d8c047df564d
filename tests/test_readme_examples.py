"""Issue 22: every offline example in the README is run and its output matches what the README shows.

A README block is ``$ tuneplan …`` (with ``\\`` continuations) and the lines printed under it. Each shown line
must appear in the real output, compared as words (a terminal wraps long lines where the README does not,
and table borders are drawing, not words); a line with ``…`` is an elision and is skipped. Blocks whose
output depends on the day, this machine or a user's ledger or account (prices' staleness, launches,
reports, cloud commands) are listed in ``NOT_RUN`` with the reason, and still must parse.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
BORDERS = re.compile(r"[┃━╇│─┏┓┗┛┡┩└┘┌┐├┤┬┴┼╭╮╰╯═║]")
NOT_RUN = {  # the command's first words -> why the example is not run here
    "tuneplan prices": "staleness marks and the header follow today's date",
    "tuneplan launch": "a launch runs a job (the lifecycle tests run these)",
    "tuneplan jobs": "lists this machine's ledger",
    "tuneplan down": "acts on a run", "tuneplan resume": "acts on a run", "tuneplan reap": "asks the clouds",
    "tuneplan bills": "asks the clouds", "tuneplan doctor": "checks this machine's launchers",
    "tuneplan report": "reads a seeded ledger file (test_report.py checks the report)",
    "tuneplan eval": "evaluates a run of this machine's ledger (test_eval.py launches and evaluates)",
    "tuneplan models": "no output shown", "tuneplan gpus": "no output shown",
    "tuneplan ledger": "reads a team ledger on a database server (test_team_ledger.py runs these)",
    "tuneplan budget": "writes a team ledger on a database server (test_team_ledger.py runs these)",
    "tuneplan plan --spec examples/tiny-sft.yaml": "calibrated by this machine's past runs (test_learning.py launches "
                                                   "two and checks the plan)",
    "tuneplan plan --model meta-llama/Llama-3.2-1B --method lora --seq-len 2048 --gpu RTX4090 --trace":
        "needs the train extra (torch on the meta device)",
}
MACHINE_LINES = ("On this machine:",)  # the local option names this machine's CPU


def readme_blocks() -> list[tuple[str, list[str]]]:
    """(command, the lines shown under it) for every ``$ tuneplan`` in a code block of the README."""
    blocks, lines = [], (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    in_code, i = False, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_code = not in_code
        elif in_code and line.startswith("$ tuneplan"):
            command = line[2:].split("  #")[0].rstrip()
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            shown = []
            while i + 1 < len(lines) and not lines[i + 1].startswith(("$ ", "```")):
                i += 1
                shown.append(lines[i])
            blocks.append((" ".join(command.split()), shown))
        i += 1
    return blocks


def words(text: str) -> str:
    return " ".join(BORDERS.sub(" ", text).split())


def _skipped(command: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if command.startswith(start)), None)


BLOCKS = readme_blocks()


def test_the_readme_has_examples_and_every_one_is_run_or_says_why_not():
    assert len(BLOCKS) >= 20
    run = [c for c, _ in BLOCKS if _skipped(c) is None]
    assert len(run) >= 10, run


@pytest.mark.parametrize("command,shown", [b for b in BLOCKS if _skipped(b[0]) is None], ids=lambda v: str(v)[:60])
def test_a_readme_example_prints_what_the_readme_shows(capsys, monkeypatch, command, shown):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_cli(capsys, *shlex.split(command)[1:])
    produced = words(out + "\n" + err)
    if any(line.startswith("error:") for line in shown):
        assert code == 2, err
    else:
        assert code == 0, err
    for line in shown:
        if "…" in line or not line.strip() or line.startswith(MACHINE_LINES):
            continue
        assert words(line) in produced, f"README shows {line!r}; `{command}` printed:\n{out}{err}"
