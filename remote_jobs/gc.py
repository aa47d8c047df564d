"""``tuneplan gc``: what in the runs folder no ledger row needs, and its size; removed only when asked.

- a run folder no ledger knows: a dry run's bundle, a launch refused before it was recorded (older
  versions left these), a folder copied from elsewhere. A folder whose ``run.json`` names another ledger
  that still exists is that ledger's business and is kept;
- a finished run's ``bundle.tar.gz``: the copy that travelled; the bundle folder beside it stays (``tuneplan
  resume`` rebuilds from it), so the model and data are no longer kept twice;
- half-done pulls (``.artifacts.partial-*``) and replaced copies (``.artifacts.old-*``) of processes that
  are gone.

Nothing that a verified artifact, a kept checkpoint, a saved log or a live run needs is ever listed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from remote_jobs.artifacts import PARTIAL, process_running
from remote_jobs.ledger import Ledger


@dataclass(frozen=True)
class Garbage:
    path: Path
    bytes: int
    why: str


def survey(ledger: Ledger, runs_root: Path) -> list[Garbage]:
    """Everything under ``runs_root`` that no ledger row needs, largest first."""
    if not runs_root.is_dir():
        return []
    records = {r.run_id: r for r in ledger.runs()}
    found: list[Garbage] = []
    for folder in sorted(p for p in runs_root.iterdir() if p.is_dir() and not p.is_symlink()):
        record = records.get(folder.name)
        if record is None:
            why = _unknown_folder(folder, ledger.identity)
            if why:
                found.append(Garbage(folder, _size(folder), why))
            continue
        tarball = folder / "bundle.tar.gz"
        if record.finished and tarball.is_file():
            found.append(Garbage(tarball, tarball.stat().st_size, f"{record.state.value} run: the bundle that "
                                 "travelled (its folder is kept)"))
        found += [Garbage(p, _size(p), "left by a pull that did not finish") for p in _stale(folder)]
    return sorted(found, key=lambda g: -g.bytes)


def remove(items: list[Garbage]) -> int:
    """Delete what ``survey`` listed; the bytes freed."""
    freed = 0
    for item in items:
        if item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            item.path.unlink(missing_ok=True)
        freed += item.bytes
    return freed


def _unknown_folder(folder: Path, ledger_identity: str) -> str:
    """Why a run folder this ledger does not know is garbage, or "" when another ledger may need it."""
    try:
        note = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        note = {}
    note = note if isinstance(note, dict) else {}
    if note.get("dry_run"):
        return "a dry run's bundle (no ledger row)"
    other = note.get("ledger")
    if other and str(other) != ledger_identity and ("://" in str(other) or Path(other).exists()):
        return ""
    return "no ledger row (a launch refused before it was recorded, or a dry run)"


def _stale(folder: Path) -> list[Path]:
    found = []
    for path in list(folder.glob(f"{PARTIAL}*")) + list(folder.glob(".*.old-*")):
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or (int(pid) != os.getpid() and not process_running(int(pid))):
            found.append(path)
    return found


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total
