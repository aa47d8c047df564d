"""The wheel carries every package and the templates ship inside remote_jobs (CONTRACTS §1)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for layer in ("planner", "providers", "remote_jobs", "tuneplan")
        for path in (ROOT / layer).rglob("__init__.py")
    }
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"


def test_templates_are_found_through_importlib_resources():
    names = {entry.name for entry in resources.files("remote_jobs.templates").iterdir()}
    assert {"sft.py", "dpo.py", "classify.py", "embed.py", "smoke.py"} <= names
