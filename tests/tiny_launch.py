"""Launch one of ``examples/tiny-<task>.yaml`` through the CLI into a throwaway ledger and data folder, with
some of its fields changed, and return its ledger record and its pulled artifacts folder."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]


def launch_example(capsys, tmp_path: Path, monkeypatch, example: str, **changes) -> tuple[dict, Path]:
    """``changes`` replace top-level fields; a dict is merged into the section of that name."""
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    spec = yaml.safe_load((ROOT / "examples" / f"{example}.yaml").read_text())
    spec["data"] = {k: str(ROOT / "examples" / v) if k in ("train", "eval") else v for k, v in spec["data"].items()}
    for key, value in changes.items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) and isinstance(spec.get(key), dict) else value
    path = tmp_path / f"{example}.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(capsys, "launch", str(path), "--yes", "--no-validate")
    assert code == 0, err
    record = next(r for r in json.loads(run_cli(capsys, "jobs", "--json")[1]) if r["name"] == spec["name"])
    return record, Path(record["runs_dir"]) / "artifacts"
