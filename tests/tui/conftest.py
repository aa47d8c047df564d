"""Building the TUI for tests: always through ``make_app`` (the CLI's factory), with a fixed clock, a fixed
machine and the bundled price table, so numbers and snapshots never depend on this host or today's date."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from planner.recommend.local import LocalCpu, LocalMachine

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
SIZE = (120, 36)


class FixedClock:
    """``now`` stands still (snapshots); ``sleep`` really waits (a run launched in a test must progress)."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)


MACHINE = LocalMachine(cpu=LocalCpu("AMD EPYC 7B13", 2, 24.0, "avx2"))


@pytest.fixture
def tui_paths(tmp_path):
    return {"ledger_path": tmp_path / "ledger.sqlite", "runs_dir": tmp_path / "runs"}


@pytest.fixture
def build_app(tui_paths):
    from providers.prices_refresh import snapshot
    from tuneplan.tui.app import make_app

    def build(spec_path: Path | None = None, clock=None):
        return make_app(spec_path=spec_path, clock=clock or FixedClock(), prices=snapshot(), machine=MACHINE,
                        **tui_paths)
    return build


def seed_ledger(path: Path, runs_dir: Path) -> None:
    """Three runs in three states, as the lifecycle records them (for the Runs screen and its snapshot)."""
    from providers.types import RunState
    from remote_jobs.ledger import Ledger
    from remote_jobs.records import RunRecord

    ledger = Ledger(path, FixedClock())
    rows = [  # newest first: the Runs screen selects the finished tiny run (no animated bar in snapshots)
        ("tiny-sft-20261120-101500-a1b2", RunState.SUCCEEDED, "local", "", None, 42.0, "0.000071", "0.000101", 10),
        ("qwen7b-20261120-110000-c3d4", RunState.RUNNING, "runpod", "RTX4090", 1, None, None, "1.00", 45),
        ("bert-20261119-090000-e5f6", RunState.FAILED, "local", "", None, 12.0, "0.000010", "0.05", 60 * 27),
    ]
    for run_id, state, provider, gpu, gpus, running_s, actual, estimate, minutes_ago in rows:
        started = NOW - timedelta(minutes=minutes_ago)
        finished = state != RunState.RUNNING
        ledger.create(RunRecord(
            run_id=run_id, name=run_id.split("-2026")[0], project="examples", owner="ana", provider=provider,
            gpu=gpu, gpus=gpus, price_usd_per_hour=Decimal("0.34") if provider == "runpod" else Decimal("0.006"),
            state=state, created_at=started, started_at=started, ended_at=started + timedelta(seconds=running_s or 0)
            if finished else None, torn_down_at=started + timedelta(minutes=1) if finished else None,
            provisioning_s=1.0 if finished else None, running_s=running_s, estimate_usd=Decimal(estimate),
            actual_usd=Decimal(actual) if actual else None,
            failure_reason="the sft template exited with code 1" if state == RunState.FAILED else None,
            runs_dir=str(runs_dir / run_id)))
    run_log = runs_dir / rows[0][0] / "run.log"
    run_log.parent.mkdir(parents=True, exist_ok=True)
    run_log.write_text('starting\nTUNEPLAN_PROGRESS {"step": 30, "total_steps": 30, "loss": 5.2}\n'
                       'TUNEPLAN_DONE {"ok": true}\n', encoding="utf-8")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Pilot tests are coroutines: run each in a fresh event loop (no async plugin needed for one folder)."""
    import asyncio
    import inspect

    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture(scope="session")
def _shared_tiny_models(tmp_path_factory):
    return tmp_path_factory.mktemp("tui-cache")


@pytest.fixture(autouse=True)
def _tiny_models_once(_isolated_dirs, _shared_tiny_models, monkeypatch):
    """The TUI tests share one cache dir, so ``tiny:llama`` is generated once per session, not per test."""
    monkeypatch.setenv("TUNEPLAN_CACHE_DIR", str(_shared_tiny_models))


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch, tmp_path):
    """The Options screen says which launchers lack a key on this machine: pin that to "none has one", so a
    developer's own RunPod key or Modal token never changes a snapshot."""
    for name in ("RUNPOD_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.runpod/config.toml either
