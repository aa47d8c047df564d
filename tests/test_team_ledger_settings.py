"""Issue 17: where the team ledger's URL comes from (settings.yaml, the environment wins) and that its password never
lands in the settings file or in any output."""

from __future__ import annotations

import json

from tests.cli_inprocess import run_cli
from tests.pg import pg_schema


def test_passwords_stay_out_of_settings_and_output(tmp_path, capsys, monkeypatch):
    with pg_schema() as (url, _):
        with_password = url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")  # trust auth ignores it
        monkeypatch.setenv("TUNEPLAN_LEDGER_URL", with_password)
        for args in (("ledger", "where"), ("settings", "show"), ("jobs", "--no-refresh"), ("budget", "list")):
            code, out, err = run_cli(capsys, *args)
            assert code == 0, (args, err)
            assert "hunter2" not in out + err, args
        code, out, _ = run_cli(capsys, "ledger", "where")
        assert "postgres:***@" in out
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text("ledger_url: postgresql://ana:hunter2@db.example.com/tuneplan\n")
    monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(config))
    monkeypatch.delenv("TUNEPLAN_LEDGER_URL")
    code, out, err = run_cli(capsys, "settings", "show")
    assert code == 2 and "never store one" in err and "hunter2" not in out + err


def test_the_ledger_url_in_settings_is_used_and_the_environment_wins(tmp_path, capsys, monkeypatch):
    with pg_schema() as (url, _):
        config = tmp_path / "config"
        config.mkdir()
        (config / "settings.yaml").write_text(f"ledger_url: '{url}'\n")
        monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(config))
        code, out, _ = run_cli(capsys, "ledger", "where", "--json")
        assert code == 0 and json.loads(out)["kind"] == "postgresql"
        monkeypatch.setenv("TUNEPLAN_LEDGER_URL", f"sqlite:///{tmp_path / 'mine.sqlite3'}")
        code, out, _ = run_cli(capsys, "ledger", "where", "--json")
        assert json.loads(out)["kind"] == "sqlite" and json.loads(out)["ledger"].endswith("mine.sqlite3")
