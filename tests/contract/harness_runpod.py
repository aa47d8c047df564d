"""The RunPod provider in the contract suite: its real HTTP client and SSH transfer against the fake RunPod
API on 127.0.0.1 (``tests/fake_runpod.py``), whose pods really run the boot script and the pod agent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from providers.runpod.api import RunpodApi
from providers.runpod.config import PodDefaults
from providers.runpod.provider import RunpodProvider
from providers.types import LaunchPlan
from tests.contract.harness import Harness
from tests.fake_runpod import KEY, FakeRunpod


def fast_provider(fake: FakeRunpod, tmp_path, timeout_s: float = 5.0, billing_settle: timedelta = timedelta(0),
                  now=None, **defaults) -> RunpodProvider:
    """The provider as make_provider() builds it, with short back-offs and short pod timers; the fake bills
    without lag, so by default its bill is taken as final at once (``billing_settle``)."""
    api = RunpodApi(KEY, fake.url, timeout_s=timeout_s, first_delay_s=0.01)
    pod = PodDefaults(**{"pull_window_s": 120, "boot_timeout_s": 120, **defaults})
    return RunpodProvider(api=api, state_root=tmp_path / "runpod-state", defaults=pod, log_poll_s=0.05,
                          billing_settle=billing_settle, now=now)


@dataclass
class RunpodHarness(Harness):
    fake: FakeRunpod | None = None

    def plan(self, run_id: str, max_runtime_s: int = 60, secrets: tuple[str, ...] = ()) -> LaunchPlan:
        """A GPU plan: RunPod runs GPU pods only."""
        return replace(super().plan(run_id, max_runtime_s, secrets), gpu="RTX4090", gpus=1)

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            self.fake.stop()


def make_harness(tmp_path) -> Harness:
    fake = FakeRunpod(tmp_path / "fake-runpod")
    fake.start()
    return RunpodHarness(fast_provider(fake, tmp_path), tmp_path, fake=fake)
