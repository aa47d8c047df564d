"""``tuneplan eval RUN``: what the fine-tune changed, on this machine, from what came back.

The run's task template does the work (``<task>.py --config <bundle>/job.json --evaluate <artifacts>``): it reads
the data as the training read it (the same eval split, the same held-out rows) and loads the model the same way,
so the comparison cannot drift from the training. The installed template is used, not the bundle's copy, so a
run launched before evaluation existed can be evaluated too. It runs in a child process with a time limit; its
JSON is read bounded and its text is the models' (untrusted, shown as plain text by the front end).

The result is stored with the run: ``runs/<id>/eval/evaluation-<UTC time>.json``, and its summary (the task
metrics, where the file is) in the ledger's ``metrics.evaluation``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from planner.errors import BadInput, TuneplanError
from providers.plain_text import one_line
from remote_jobs.artifacts import ARTIFACTS
from remote_jobs.ledger import Ledger
from remote_jobs.records import RunRecord

TIMEOUT_S = 3600
MAX_RESULT_BYTES = 8 * 1024 * 1024
EVALUATED = ("sft", "dpo", "classify", "embed", "ner", "reward", "rerank", "grpo")


class EvaluationFailed(TuneplanError):
    title = "evaluation failed"
    exit_code = 1


@dataclass(frozen=True)
class Evaluation:
    run_id: str
    path: Path
    result: dict[str, Any]


def evaluate_run(ledger: Ledger, record: RunRecord, prompts: Path | None = None, limit: int = 5,
                 max_new_tokens: int = 128, timeout_s: float = TIMEOUT_S) -> Evaluation:
    """Compare the base model and the run's fine-tuned one; store the result with the run and return it."""
    run_dir, artifacts = _folders(record)
    entry = resources.files("remote_jobs.templates") / f"{record.task}.py"
    out_dir = run_dir / "eval"
    out_dir.mkdir(mode=0o700, exist_ok=True)
    stamp = ledger.clock.now().strftime("%Y%m%dT%H%M%SZ")
    target = out_dir / f"evaluation-{stamp}.json"
    command = [sys.executable, str(entry), "--config", str(run_dir / "bundle" / "job.json"), "--evaluate",
               str(artifacts), "--eval-out", str(target), "--eval-limit", str(limit),
               "--max-new-tokens", str(max_new_tokens)]
    if prompts is not None:
        if not prompts.is_file():
            raise BadInput(f"--prompts {prompts}: no such file")
        command += ["--eval-prompts", str(prompts.resolve())]
    try:
        done = subprocess.run(command, cwd=run_dir / "bundle", capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise EvaluationFailed(f"the evaluation did not finish in {timeout_s:g} s (--timeout to allow longer)") from None
    if done.returncode != 0 or not target.is_file():
        raise _failure(done.stderr)
    result = _read(target)
    summary = {"at": stamp, "file": str(target), "source": one_line(result.get("source", ""), 200),
               "metrics": _numbers(result.get("metrics")), "examples": len(result.get("examples") or [])}
    metrics = dict(record.metrics or {})
    metrics["evaluation"] = summary
    ledger.update(record.run_id, metrics=metrics, message=f"evaluated: {target.name}")
    return Evaluation(record.run_id, target, result)


def _folders(record: RunRecord) -> tuple[Path, Path]:
    if record.task not in EVALUATED:
        raise BadInput(f"{record.run_id} is a {record.task or 'smoke'} run: there is no model to evaluate")
    run_dir = Path(record.runs_dir)
    artifacts = run_dir / ARTIFACTS
    if not (artifacts / "manifest.json").is_file():
        raise BadInput(f"{record.run_id} has no pulled outputs in {artifacts} ({record.state.value}); "
                       f"`tuneplan pull {record.run_id}` brings them home first")
    if not (run_dir / "bundle" / "job.json").is_file():
        raise BadInput(f"{record.run_id}: its bundle (job.json) is gone from {run_dir}; the evaluation reads the "
                       "data and the model as the run did")
    return run_dir, artifacts


def _failure(stderr: str) -> EvaluationFailed:
    lines = (stderr or "").strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    reason = errors[-1].removeprefix("error:") if errors else lines[-1] if lines else ""
    text = one_line(reason, 400) or "no reason given"
    if "No module named" in text:
        text += " (evaluating runs the model here: pip install 'tuneplan[train]')"
    return EvaluationFailed(text)


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        data = f.read(MAX_RESULT_BYTES + 1)
    if len(data) > MAX_RESULT_BYTES:
        raise EvaluationFailed(f"{path} is larger than {MAX_RESULT_BYTES // 2**20} MiB")
    try:
        result = json.loads(data)
    except ValueError:
        raise EvaluationFailed(f"{path} is not JSON") from None
    if not isinstance(result, dict):
        raise EvaluationFailed(f"{path}: expected a JSON object")
    path.chmod(0o600)  # the run folder's files are the owner's only
    return result


def _numbers(metrics: Any) -> dict[str, dict[str, float]]:
    """``{"base": {...}, "tuned": {...}}`` with finite numbers only (what the ledger keeps of it)."""
    found: dict[str, dict[str, float]] = {}
    if isinstance(metrics, dict):
        for side in ("base", "tuned"):
            values = metrics.get(side)
            if isinstance(values, dict):
                found[side] = {one_line(k, 60): float(v) for k, v in list(values.items())[:20]
                               if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e300}
    return found
