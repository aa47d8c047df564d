"""A distributed run through the whole lifecycle on the local provider (issue 14): ``resources.cpu_processes``
starts the job as CPU processes over gloo with the torchrun command the bundle carries, the same path a
multi-GPU machine takes; and the fault cases hold for it: a rank that dies fails the run cleanly, tears it
down and leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from planner.spec import load_spec
from providers.local import LocalProvider
from providers.types import RunState
from remote_jobs.ledger import Ledger
from tests.contract.harness import FakeClock, processes_mentioning, run_lifecycle

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tiny-sft.yaml"


def spec(**training):
    return load_spec(EXAMPLE, {"resources": {"cpu_processes": 2, "sharding": "ddp"},
                               "training": {"eval_steps": None, "save_steps": 4, "logging_steps": 2,
                                            "max_steps": 8, **training},
                               "data": {"eval": None}})


def rank_process(rank: int, workdir_mark: str) -> int | None:
    """The pid of the job process with ``RANK=<rank>`` whose command runs from ``workdir_mark``."""
    for pid in processes_mentioning(workdir_mark):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"LOCAL_RANK=" + str(rank).encode() in environ:
            return pid
    return None


def test_cpu_processes_run_the_job_distributed_through_the_lifecycle(tmp_path):
    clock = FakeClock()
    provider, ledger = LocalProvider(root=tmp_path / "local"), Ledger(tmp_path / "l.sqlite3", clock)
    record = run_lifecycle(spec(), provider, ledger, clock, tmp_path / "runs", spec_path=EXAMPLE)
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    run_dir = Path(record.runs_dir)
    bundle = json.loads((run_dir / "bundle" / "bundle.json").read_text())
    assert bundle["launcher"][:2] == ["-m", "torch.distributed.run"] and bundle["cpu_only"] is True
    assert json.loads((run_dir / "bundle" / "job.json").read_text())["distributed"] == {
        "nodes": 1, "gpus_per_node": 2, "sharding": "ddp"}
    metrics = json.loads((run_dir / "artifacts" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["distributed"]["engine"] == "ddp"
    assert not processes_mentioning(record.handle.data["workdir"])


def test_a_rank_that_dies_fails_the_run_and_it_is_torn_down(tmp_path):
    clock = FakeClock()
    provider, ledger = LocalProvider(root=tmp_path / "local", grace_s=2), Ledger(tmp_path / "l.sqlite3", clock)
    killed = threading.Event()
    mark = str(tmp_path / "local")

    def kill_rank_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed.is_set():
            pid = rank_process(1, mark)
            if pid is not None and _training(mark):
                os.kill(pid, signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.1)

    threading.Thread(target=kill_rank_one, daemon=True).start()
    record = run_lifecycle(spec(max_steps=400, save_steps=1000), provider, ledger, clock, tmp_path / "runs",
                           spec_path=EXAMPLE)
    assert killed.is_set(), "rank 1 was never seen"
    assert record.state == RunState.FAILED and record.torn_down_at is not None
    assert record.failure_reason  # rank 0's view: its peer went away (the torchrun summary in run.log names rank 1)
    assert not processes_mentioning(mark), "a rank outlived the run"
    assert provider.list_resources() == []


def _training(mark: str) -> bool:
    """The job has printed a progress line (both ranks are in the training loop)."""
    return any("TUNEPLAN_PROGRESS" in p.read_text(errors="replace") for p in Path(mark).glob("*/run.log"))


def test_a_budget_stop_ends_every_rank(tmp_path):
    clock = FakeClock(speed=3600)  # every poll is an hour of billing
    provider, ledger = LocalProvider(root=tmp_path / "local", grace_s=2), Ledger(tmp_path / "l.sqlite3", clock)
    job = spec(max_steps=400, save_steps=2)
    job = job.model_copy(update={"resources": job.resources.model_copy(update={"max_total_usd": 0.0003})})
    record = run_lifecycle(job, provider, ledger, clock, tmp_path / "runs", spec_path=EXAMPLE)
    assert record.state == RunState.BUDGET_STOPPED and record.torn_down_at is not None
    assert not processes_mentioning(str(tmp_path / "local")), "a rank outlived the budget stop"


def test_ctrl_c_during_a_two_process_launch_stops_every_rank(tmp_path):
    """Ctrl-C while a CPU rehearsal runs (no terminal: it stops the run): every rank ends and the run is recorded
    cancelled and torn down."""
    from tests.test_never_lose_work import _running, _sigint

    stopped = _sigint(["launch", str(EXAMPLE), "--yes", "--set", "resources.cpu_processes=2",
                       "--set", "resources.sharding=ddp", "--set", "training.max_steps=400",
                       "--set", "training.eval_steps=null", "--set", "data.eval=null"], 3.0, _running)
    assert stopped.returncode == 130, stopped.stderr
    record = Ledger().runs()[0]
    assert record.state == RunState.CANCELLED and record.torn_down_at is not None
    assert not processes_mentioning(record.handle.data["workdir"]), "a rank outlived Ctrl-C"
