"""What tuneplan keeps is its user's alone (issue: files are readable by everyone): the data folder is 0700 and
the ledger, bundles (training data), artifacts and logs in it are 0600, whatever the umask. They used to be
created 0644/0755."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from remote_jobs.ledger import Ledger
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_launch_leaves_nothing_readable_by_others(capsys, monkeypatch):
    old = os.umask(0o022)  # the usual umask, under which files come out 0644
    try:
        code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--yes",
                               "--set", "smoke.step_seconds=0.02")
    finally:
        os.umask(old)
    assert code == 0, err
    data = Path(os.environ["TUNEPLAN_DATA_DIR"])
    assert _mode(data) == 0o700
    record = Ledger().runs()[0]
    assert _mode(data / "ledger.sqlite3") == 0o600
    run_dir = Path(record.runs_dir)
    for path in [run_dir, *run_dir.rglob("*")]:
        if path.is_symlink() or path.stat().st_nlink > 1:
            continue  # a file hard-linked from the user's own data keeps the user's mode; its folder is 0700
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert (run_dir / "bundle.tar.gz").is_file() and (run_dir / "run.log").is_file()
    assert any(p.name == "smoke.txt" for p in (run_dir / "artifacts").rglob("*"))


def test_an_existing_data_folder_open_to_others_is_closed(monkeypatch, tmp_path):
    from providers.paths import data_dir

    folder = tmp_path / "shared-data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(folder))
    assert data_dir() == folder and _mode(folder) == 0o700


def test_an_existing_ledger_open_to_others_is_closed(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    Ledger(path)
    path.chmod(0o644)
    Ledger(path)
    assert _mode(path) == 0o600
