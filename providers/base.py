"""The one interface every place a job can run implements (DESIGN.md, "The provider interface").

Shaped for a remote machine, not a subprocess: ``launch`` returns a handle quickly and the run goes on
without us; everything after it (status, logs, artifacts, teardown) is asked again through the handle,
possibly by another process after the first one died. ``teardown`` is idempotent, and what a provider
cannot do is declared in ``capabilities()`` with a reason instead of being discovered by an exception.

Adapters import their SDKs lazily, inside the methods that need them; importing this module costs nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from providers.pull_limits import PullLimits
from providers.types import (
    Bundle,
    Capability,
    CheckResult,
    LaunchPlan,
    Offer,
    Overhead,
    Resource,
    RunHandle,
    RunStatus,
)


class Provider(ABC):
    """A launcher: local, SkyPilot, Modal, RunPod (and the fakes the tests use)."""

    name: str = "provider"

    @abstractmethod
    def capabilities(self) -> list[Capability]:
        """What this provider can and cannot do, each with a reason a person can read."""

    @abstractmethod
    def check(self) -> CheckResult:
        """Are the credentials and tools present? Never raises for a missing credential: says how to fix it."""

    def ready_here(self) -> CheckResult:
        """What ``check`` can tell without the network (a key or token present, the SDK installed): cheap
        enough to ask for every row of a list. Providers with nothing to find say yes."""
        return CheckResult(True, "")

    @abstractmethod
    def offers(self) -> list[Offer]:
        """The machines it can run on, with dated prices."""

    @abstractmethod
    def destination(self, plan: LaunchPlan) -> str:
        """Where a bundle goes when launched with ``plan``, in words (for the launch confirmation)."""

    @abstractmethod
    def launch(self, bundle: Bundle, plan: LaunchPlan) -> RunHandle:
        """Start the run and return as soon as there is something to hold on to.

        The resources carry ``plan.resource_name`` and ``plan.tags``; the remote side enforces
        ``plan.max_runtime_s`` by itself; secrets named in ``plan.secrets`` are injected at run time.
        """

    @abstractmethod
    def status(self, handle: RunHandle) -> RunStatus:
        """The run's state now (``exists=False`` once its resource is gone)."""

    @abstractmethod
    def logs(self, handle: RunHandle, follow: bool = False, tail_bytes: int | None = None) -> Iterator[str]:
        """The run's output lines; with ``follow``, keep yielding until the run ends; with ``tail_bytes`` (and
        no ``follow``), only about the last that many bytes. Lines are at most ``log_lines.LINE_MAX_CHARS``
        long, and reading never holds the whole log in memory."""

    @abstractmethod
    def fetch_artifacts(self, handle: RunHandle, dest: Path, include_checkpoints: bool = False,
                        limits: PullLimits | None = None) -> list[str]:
        """Copy the run's output dir into ``dest`` (created); return the relative paths copied.

        Every name from the remote side passes ``safe_paths`` (nothing lands outside ``dest``, no link is
        followed), and the copy stays within ``limits`` (bytes and seconds; default ``PullLimits()``)."""

    @abstractmethod
    def teardown(self, handle: RunHandle) -> None:
        """Stop the run and delete its resources. Tearing down something already gone is not an error."""

    @abstractmethod
    def list_resources(self) -> list[Resource]:
        """Everything with our prefix this provider holds, whoever launched it (for ``reap``)."""

    def billed_cost(self, handle: RunHandle, ended_at: datetime | None = None) -> Decimal | None:
        """The provider's own bill for the run, where it has one; None means "use rate × duration".

        ``ended_at`` is when the ledger saw the run's machine go (its teardown), for a provider that cannot
        tell by itself when a run it did not end in this process ended (``tuneplan bills`` passes it).
        """
        return None

    def overheads(self, spot: bool) -> list[Overhead]:
        """What a run on this provider bills besides its machine (none by default)."""
        return []

    def ends_itself_after_s(self, handle: RunHandle) -> float | None:
        """How long after the job ends its machine goes away without us (autodown, a container scaling to
        zero); None when only our teardown ends it. The ledger bills the machine until the earlier of that
        and our teardown."""
        return None

    def capability(self, name: str) -> Capability | None:
        return next((c for c in self.capabilities() if c.name == name), None)
