"""End to end with real training: each tiny example launched on the local provider, trained on CPU, pulled,
verified, torn down and recorded. Few on purpose (the templates' own tests cover training); the smoke job
covers the lifecycle everywhere else. Two runs at a time, one thread each: the machine has two cores."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from planner.spec import load_spec
from providers.local import LocalProvider
from providers.types import RunState
from remote_jobs.clock import SystemClock
from remote_jobs.ledger import Ledger
from remote_jobs.tiny_models import tiny_model_path
from tests.contract.harness import run_lifecycle

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {  # example -> a file its artifacts must hold
    "tiny-sft": "adapter_model.safetensors",
    "tiny-dpo": "adapter_model.safetensors",
    "tiny-classify": "model.safetensors",
    "tiny-embed": "model.safetensors",
}


@pytest.mark.slow
def test_the_tiny_examples_train_pull_and_verify(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for name in ("tiny:llama", "tiny:bert"):
        tiny_model_path(name)  # once, here, rather than in two threads at once
    clock, ledger = SystemClock(), Ledger(tmp_path / "ledger.sqlite3")
    provider = LocalProvider(root=tmp_path / "local")

    def launch(name: str):
        path = ROOT / "examples" / f"{name}.yaml"
        return run_lifecycle(load_spec(path), provider, ledger, clock, tmp_path / "runs", spec_path=path, poll_s=0.5)

    with ThreadPoolExecutor(max_workers=2) as pool:
        records = dict(zip(EXPECTED, pool.map(launch, EXPECTED), strict=True))
    for name, record in records.items():
        assert record.state == RunState.SUCCEEDED, (name, record.failure_reason)
        paths = {a["path"] for a in record.artifacts}
        assert f"artifacts/{EXPECTED[name]}" in paths and "artifacts/metrics.json" in paths, (name, paths)
        metrics = json.loads((Path(record.runs_dir) / "artifacts" / "metrics.json").read_text())
        assert metrics["task"] == record.task and record.tokens == metrics["tokens"] > 0
        assert record.torn_down_at is not None and record.actual_usd > 0
        assert record.estimate_usd is not None and record.estimate_peak_gib > 0
    assert provider.list_resources() == []
