"""The headless layers stay light: importing them loads no ML library, SDK or UI toolkit, and the
import direction planner ← providers ← remote_jobs ← tuneplan holds."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {"torch", "transformers", "textual", "rich", "sky", "modal", "runpod", "peft", "trl", "psycopg"}
ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["planner", "providers", "remote_jobs", "tuneplan"]


@pytest.mark.parametrize("package", ["planner", "providers", "remote_jobs", "planner.plan", "providers.hub"])
def test_headless_import_loads_nothing_heavy(package):
    code = (f"import sys, importlib; importlib.import_module({package!r}); "
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r}))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def _imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_import_direction(layer):
    forbidden = set(LAYERS[LAYERS.index(layer) + 1:]) | {"templates"}
    offenders = {str(path.relative_to(ROOT)): sorted(_imported_top_levels(path) & forbidden)
                 for path in (ROOT / layer).rglob("*.py") if _imported_top_levels(path) & forbidden}
    assert not offenders


def test_templates_import_nothing_of_the_project():
    project = set(LAYERS)
    offenders = {path.name: sorted(_imported_top_levels(path) & project) for path in (ROOT / "templates").glob("*.py")
                 if _imported_top_levels(path) & project}
    assert not offenders


def test_only_the_front_ends_import_rich_or_textual():
    for layer in ("planner", "providers", "remote_jobs"):
        for path in (ROOT / layer).rglob("*.py"):
            assert not _imported_top_levels(path) & {"rich", "textual"}, path
