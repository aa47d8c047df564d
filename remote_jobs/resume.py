"""Resuming a run that stopped before its end (cancelled, budget- or limit-stopped, failed) from the checkpoint
that was pulled before its machine went: a new run, linked to the old one in the ledger (``resumed_from``),
on the same or another provider.

The new bundle is the old one as it ran (template, job.json, data, model, the template's arguments) plus the
kept checkpoint in its output folder, and the template is told ``--require-resume``: it continues from that
step or refuses (exit 3), never silently starts over.
"""

from __future__ import annotations

import json
from pathlib import Path

from planner.errors import BadInput
from planner.spec import JobSpec, load_spec
from providers.private_files import private_dir
from providers.safe_paths import regular_files
from providers.types import Bundle
from remote_jobs.artifacts import CHECKPOINT, latest_checkpoint
from remote_jobs.bundle import MANIFEST, place, seal_bundle
from remote_jobs.records import RunRecord

REQUIRE_RESUME = "--require-resume"


def recorded_job(record: RunRecord, runs_root: Path) -> tuple[JobSpec, Path]:
    """The job as it ran (its bundle's job.json) and that file's path."""
    job_json = _run_dir(record, runs_root) / "bundle" / "job.json"
    if not job_json.is_file():
        raise BadInput(f"{record.run_id}: its bundle is gone ({job_json.parent}); relaunch from the spec instead")
    return load_spec(job_json), job_json


def kept_checkpoint(record: RunRecord, runs_root: Path) -> Path:
    """The newest checkpoint pulled from the run before its teardown."""
    found = latest_checkpoint(_run_dir(record, runs_root) / CHECKPOINT)
    if found is None:
        why = "it succeeded" if record.state.value == "succeeded" else "none was written, or it was discarded"
        raise BadInput(f"{record.run_id}: no checkpoint was kept ({why}); nothing to resume from")
    return found


def resume_bundle(record: RunRecord, runs_root: Path, checkpoint: Path, run_id: str, root: Path) -> Bundle:
    """The old run's bundle with ``checkpoint`` in its output folder, sealed as ``run_id`` at ``root``."""
    old = _run_dir(record, runs_root) / "bundle"
    meta = json.loads((old / MANIFEST).read_text(encoding="utf-8"))
    output_dir = str(meta.get("output_dir") or "out")
    private_dir(root.parent)
    root.mkdir(mode=0o700)
    for rel, path in regular_files(old, on_other=lambda name, kind: None):
        if rel != MANIFEST and not rel.startswith(f"{output_dir}/"):
            place(path, root / rel)
    place(checkpoint, root / output_dir / "checkpoints" / checkpoint.name)
    args = [str(a) for a in meta.get("args") or []]
    if REQUIRE_RESUME not in args:
        args.append(REQUIRE_RESUME)
    return seal_bundle(root, run_id, str(meta["task"]), str(meta["entrypoint"]), tuple(args),
                       tuple(meta.get("secrets") or ()), output_dir, tuple(str(a) for a in meta.get("launcher") or ()),
                       bool(meta.get("cpu_only")))


def _run_dir(record: RunRecord, runs_root: Path) -> Path:
    return Path(record.runs_dir) if record.runs_dir else runs_root / record.run_id
