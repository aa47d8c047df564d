"""Text from outside (failure reasons, log lines, names people type) is shown as plain text everywhere, and a
display that fails never keeps a machine from being torn down (issue: nothing from outside can crash a run).

Llama's ordinary ``[/INST]`` token in a failure reason used to raise rich's ``MarkupError`` while ``watch``
recorded the end, before the teardown: the machine kept billing, and ``jobs``/``report`` crashed on every
start afterwards.
"""

from __future__ import annotations

import json
import os

from providers.types import RunState
from tests.cli_inprocess import run_cli
from tests.hostile_jobs import run_script

MARKUP = "bad prompt [/INST] [/bold] [link=https://x.example]click[/link] :smile:"
FAIL_WITH_MARKUP = f'''
print("TUNEPLAN_DONE " + json.dumps({{"ok": False, "error": {MARKUP!r}}}), flush=True)
sys.exit(1)
'''


def test_a_failure_reason_holding_markup_is_recorded_and_the_machine_still_goes(tmp_path, capsys):
    from tuneplan.cli.render_run import LiveProgress

    with LiveProgress() as live:  # the CLI's own display, which used to raise MarkupError here
        record, _ = run_script(tmp_path, FAIL_WITH_MARKUP, live)
    assert record.state == RunState.FAILED and "[/INST] [/bold]" in record.failure_reason
    assert record.torn_down_at is not None
    assert not (tmp_path / "local-provider" / f"tp-{record.run_id}").exists(), "torn down"
    assert "[/INST] [/bold] [link=https://x.example]click[/link] :smile:" in capsys.readouterr().out


def test_a_display_that_fails_is_switched_off_and_the_run_still_ends_and_goes(tmp_path):
    def broken_display(event):
        raise RuntimeError("the terminal went away")

    record, ledger = run_script(tmp_path, 'put("a.txt", b"a")\nmanifest([entry("a.txt")])\n', broken_display)
    assert record.state == RunState.SUCCEEDED and record.torn_down_at is not None
    assert [a["path"] for a in record.artifacts] == ["artifacts/a.txt"]
    assert any("display failed" in (e["message"] or "") for e in ledger.events(record.run_id))


def test_jobs_report_and_logs_print_markup_and_escapes_as_plain_text(tmp_path, capsys, monkeypatch):
    script = ('print("\\x1b]0;owned\\x07\\x1b[2Jhello [/INST] \\x1b[31mred\\x1b[0m\\x07", flush=True)\n'
              + FAIL_WITH_MARKUP)
    record, _ = run_script(tmp_path, script, project="ml-[/team]")
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_RUNS_DIR", str(tmp_path / "runs"))
    code, out, err = run_cli(capsys, "jobs")
    assert code == 0, err
    assert "[/INST]" in " ".join(out.split())
    code, out, err = run_cli(capsys, "report", "--month", "2026-11", "--by", "project")
    assert code == 0, err
    assert "ml-[/team]" in out
    code, out, err = run_cli(capsys, "logs", record.run_id)
    assert code == 0, err
    assert "hello [/INST] red" in out
    assert "\x1b" not in out and "\x07" not in out


async def _runs_screen_rows(tmp_path, build):
    from textual.widgets import DataTable, Static

    app = build()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("f5")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        table = app.screen.query_one("#runs-table", DataTable)
        facts = str(app.screen.query_one("#run-facts", Static).render())
        return [str(cell) for cell in table.get_row_at(0)], facts


def test_the_tui_runs_screen_shows_markup_as_plain_text(tmp_path):
    import asyncio

    from providers.prices_refresh import snapshot
    from tests.tui.conftest import MACHINE, FixedClock
    from tuneplan.tui.app import make_app

    record, _ = run_script(tmp_path, FAIL_WITH_MARKUP, project="ml-[/team]")

    def build():
        return make_app(clock=FixedClock(), prices=snapshot(), machine=MACHINE, ledger_path=tmp_path / "ledger.sqlite3",
                        runs_dir=tmp_path / "runs")

    row, facts = asyncio.run(_runs_screen_rows(tmp_path, build))
    assert row[0] == record.run_id and "[/INST] [/bold]" in row[-1]
    assert "[/INST] [/bold] [link=https://x.example]click[/link]" in facts


def test_plain_drops_escape_sequences_and_control_characters():
    from providers.plain_text import one_line, plain

    text = "a\x1b[31mb\x1b[0m\x1b]0;title\x07c\x1b]52;c;Y2xpcA==\x1b\\d\x00e\x07f\rg\u202eh\x9b2Ji\tj"
    assert plain(text) == "abcdefgh" + "i\tj"
    assert plain("line 1\nline 2") == "line 1\nline 2"
    assert one_line("line 1\n  line 2\x1b[K", 10) == "line 1 li…"


def test_split_lines_cuts_a_line_without_end_and_keeps_memory_bounded():
    from providers.log_lines import LINE_MAX_CHARS, split_lines

    endless = (b"x" * 65536 for _ in range(200))  # 12.5 MiB, no newline anywhere
    lines = list(split_lines(endless))
    assert len(lines) == 1 and len(lines[0]) <= LINE_MAX_CHARS + 20 and lines[0].endswith("[line cut]")
    assert list(split_lines([b"a\nb", b"c\n", "d"])) == ["a", "bc", "d"]


def test_keeping_the_end_of_a_log_holds_only_its_end():
    from providers.log_lines import last_lines, tail_of

    chunks = [f"line {i}\n".encode() for i in range(100_000)]
    data = tail_of(iter(chunks), 1000)
    assert len(data) <= 1000 and data.endswith(b"line 99999\n") and data.startswith(b"line ")
    lines, dropped = last_lines((f"line {i}" for i in range(100_000)), 1000)
    assert lines[-1] == "line 99999" and dropped + len(lines) == 100_000 and sum(len(x) + 1 for x in lines) <= 1000


def test_the_saved_log_of_a_run_is_its_end_only(tmp_path):
    SAVED_LOG_BYTES = 4 << 20  # noqa: N806 - what providers.log_lines keeps

    script = ('line = "x" * 99 + "\\n"\nfor _ in range(100_000):\n    sys.stdout.write(line)\n'  # 10 MB of log
              'print("the last line", flush=True)\nput("a.txt", b"a")\nmanifest([entry("a.txt")])\n')
    record, _ = run_script(tmp_path, script)
    assert record.state == RunState.SUCCEEDED
    saved = tmp_path / "runs" / record.run_id / "run.log"
    text = saved.read_text()
    assert saved.stat().st_size <= SAVED_LOG_BYTES + 200
    assert text.splitlines()[0] == "[tuneplan: only the last 4 MiB of this log are kept]"
    assert text.rstrip().endswith("the last line")
    assert oct(os.stat(saved).st_mode & 0o777) == oct(0o600)


def test_a_failure_reason_is_one_clean_line_in_the_ledger(tmp_path):
    reason = "first\nsecond\x1b[2J\x07 " + "y" * 5000
    record, _ = run_script(tmp_path, f'print("TUNEPLAN_DONE " + json.dumps({{"ok": False, "error": {reason!r}}}))\n'
                                     "sys.exit(1)\n")
    assert record.state == RunState.FAILED
    assert "\n" not in record.failure_reason and "\x1b" not in record.failure_reason
    assert record.failure_reason.startswith("first second") and len(record.failure_reason) <= 1000
    assert json.dumps(record.failure_reason)
