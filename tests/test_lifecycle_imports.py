"""Every module of the lifecycle, the ledger and the providers imports without an ML library, SDK or UI
toolkit (tests/test_imports.py checks the packages; this checks each module, as a command would load it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "textual", "rich", "sky", "modal", "runpod", "peft", "trl", "tokenizers"}


def test_each_headless_module_imports_light():
    modules = [f"remote_jobs.{p.stem}" for p in (ROOT / "remote_jobs").glob("*.py") if p.stem != "__init__"]
    modules += ["providers.base", "providers.types", "providers.local", "providers.registry", "providers.identity",
                "providers.protocol", "providers.local_procs", "providers.local_watchdog"]
    code = (f"import sys, importlib\nfor m in {sorted(modules)!r}: importlib.import_module(m)\n"
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r}))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ""
