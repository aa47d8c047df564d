"""Experiment tracking for the training templates: the Trainer's ``report_to`` for the spec's ``tracking`` (W&B,
MLflow) with the settings its integration reads from the environment, and where the run's tracking went, for
``metrics.json`` and the ledger.

``make templates`` copies the lines between the ``# >>> tracking`` and ``# <<< tracking`` markers into every
training template (``templates/build.py``); the lines above them only make this an ordinary module.
"""

from __future__ import annotations

import os
from pathlib import Path


# >>> tracking
def tracking_setup(cfg: dict, out: Path) -> list:
    """The Trainer's ``report_to`` for the spec's tracking, and the settings its integration reads from the
    environment. MLflow without a server logs to a SQLite store among the outputs (pulled home with them)."""
    backend = cfg["tracking.backend"]
    project = cfg["tracking.project"] or cfg["name"]
    if backend == "mlflow":
        os.environ.setdefault("MLFLOW_TRACKING_URI", cfg["tracking.uri"] or f"sqlite:///{(out / 'mlflow.db').resolve()}")
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", project)
        return ["mlflow"]
    if backend == "wandb":
        os.environ.setdefault("WANDB_PROJECT", project)
        return ["wandb"]
    return []


def tracking_facts(cfg: dict, out: Path) -> dict | None:
    """Where the run's tracking lives (for the ledger): the backend, its URI, the run, and a link where there is one."""
    backend = cfg["tracking.backend"]
    try:
        if backend == "mlflow":
            import mlflow

            run, uri = mlflow.last_active_run(), mlflow.get_tracking_uri()
            if run is None:
                return {"backend": backend, "uri": uri, "problem": "no MLflow run was logged"}
            local = uri == f"sqlite:///{(out / 'mlflow.db').resolve()}"
            link = f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}" \
                if uri.startswith(("http://", "https://")) else None
            return {"backend": backend, "uri": None if local else uri, "store_in_outputs": "mlflow.db" if local else None,
                    "experiment_id": run.info.experiment_id, "run_id": run.info.run_id, "url": link}
        if backend == "wandb":
            import wandb

            run = wandb.run
            return {"backend": backend, "run_id": run.id if run else None, "url": run.url if run else None,
                    "project": os.environ.get("WANDB_PROJECT")}
    except Exception as exc:  # noqa: BLE001 - tracking is a convenience: it never fails a trained run
        return {"backend": backend, "problem": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return None


# <<< tracking
