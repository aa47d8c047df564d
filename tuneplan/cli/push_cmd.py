"""``tuneplan push RUN``: upload a run's pulled, verified outputs to the Hugging Face Hub. The training
machine's own push (``outputs.push_to_hub``) may fail without the run failing; this retries it from the
local copy, and the ledger records the outcome either way."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput
from tuneplan.cli.run_options import LEDGER_OPTION, RUN_ARG, RUNS_DIR_OPTION, clock, open_ledger, runs_root


def push(
    run: str = RUN_ARG,
    repo: Optional[str] = typer.Option(None, "--repo", help="The Hub repo, org/name (default: the one the run "
                                       "tried, else the spec's outputs.push_to_hub)."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from providers.hub_upload import push_folder
    from providers.types import ProviderError
    from remote_jobs.artifacts import ARTIFACTS, already_verified
    from tuneplan.cli.output import console

    book = open_ledger(ledger, clock())
    record = book.find(run)
    run_dir = Path(record.runs_dir) if record.runs_dir else runs_root(runs_dir) / record.run_id
    if not already_verified(run_dir, record.artifacts):
        raise BadInput(f"{record.run_id}: its outputs are not pulled and verified here (tuneplan pull "
                       f"{record.run_id} first)")
    target = repo or (record.push or {}).get("repo") or _spec_repo(run_dir)
    if not target:
        raise BadInput("no Hub repo to push to: give --repo org/name")
    try:
        url = push_folder(run_dir / ARTIFACTS, target)
    except ProviderError as exc:
        book.update(record.run_id, message=f"push to {target} failed", push={"repo": target, "ok": False, "url": "",
                                                                            "error": str(exc)[:500]})
        raise
    book.update(record.run_id, message=f"pushed to {url}", push={"repo": target, "ok": True, "url": url, "error": ""})
    console.print(f"pushed {len(record.artifacts)} files of {record.run_id} to {url}")


def _spec_repo(run_dir: Path) -> str | None:
    import json

    try:
        job = json.loads((run_dir / "bundle" / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    outputs = job.get("outputs") if isinstance(job, dict) else None
    return outputs.get("push_to_hub") if isinstance(outputs, dict) else None
