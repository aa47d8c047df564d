"""The value types every provider speaks (CONTRACTS §1, §7): what goes in (a ``Bundle`` and a ``LaunchPlan``),
what comes back (a ``RunHandle``, ``RunStatus``, ``Resource``), and what a provider can do (``Capability``).

They are plain frozen dataclasses with a JSON form, because a handle must survive the process that made it:
it is written to the ledger before anything else happens, and a later ``tuneplan watch`` rebuilds it.
Nothing here talks to the outside world.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from planner.errors import TuneplanError

RESOURCE_PREFIX = "tp-"
TAG_OWNER = "tuneplan-owner"
TAG_HOST = "tuneplan-host"
TAG_RUN = "tuneplan-run"
TAG_PROJECT = "tuneplan-project"


class RunState(str, Enum):
    """Where a run is. Teardown is tracked apart from the state (a finished run can still hold a machine)."""

    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    PULLING = "pulling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BUDGET_STOPPED = "budget_stopped"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: object) -> "RunState":
        """Lenient: a state this version does not know (a newer writer, a typo) reads as ``unknown``."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.BUDGET_STOPPED})


class ProviderError(TuneplanError):
    """A provider could not do what was asked; the message says what and, where it can, how to fix it."""

    title = "provider error"


class TransientProviderError(ProviderError):
    """Worth retrying (a timeout, a 5xx, a rate limit): the lifecycle retries these with a backoff."""

    title = "provider hiccup"


@dataclass(frozen=True)
class Capability:
    """One thing a provider can or cannot do, with the human reason shown beside it."""

    name: str
    supported: bool
    reason: str


@dataclass(frozen=True)
class CheckResult:
    """Whether the provider can be used from here, and what to do when it cannot."""

    ok: bool
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Offer:
    """A machine a provider can rent (or, for local, has), with its price and where the price came from."""

    gpu: str
    gpus: int
    usd_per_hour: Decimal
    spot: bool
    source: str
    as_of: str
    region: str = ""
    offering: str = ""  # the provider's product line where it has several (RunPod: secure-cloud, community-cloud)


DEFAULT_MASTER_PORT = 29500


@dataclass(frozen=True)
class BundleFile:
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Bundle:
    """A runnable job: a directory holding the template, job.json, requirements and data, its manifest,
    and the tarball (with its sha256) that is what actually travels to a remote machine.

    Secrets are never inside: ``secrets`` holds their names, the provider injects the values at run time.
    """

    root: Path
    task: str
    entrypoint: str
    args: tuple[str, ...]
    output_dir: str
    files: tuple[BundleFile, ...]
    tarball: Path
    sha256: str
    secrets: tuple[str, ...] = ()
    launcher: tuple[str, ...] = ()
    """What goes between the interpreter and the template: empty for one process, else torchrun's arguments
    (``remote_jobs.distributed``) with ``{node_rank}``, ``{master_addr}``, ``{master_port}`` to fill."""
    cpu_only: bool = False
    """A CPU rehearsal of a distributed run (processes over gloo): the job must not see a GPU."""

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def nodes(self) -> int:
        return int(self.launcher[self.launcher.index("--nnodes") + 1]) if "--nnodes" in self.launcher else 1

    def command(self, python: str, entrypoint_path: str | None = None, node_rank: int | str = 0,
                master_addr: str = "127.0.0.1", master_port: int | str = DEFAULT_MASTER_PORT) -> list[str]:
        """The command that starts the job on one node: the provider supplies that node's facts (values a shell
        may still expand, for a run script)."""
        facts = {"node_rank": node_rank, "master_addr": master_addr, "master_port": master_port}
        launcher = [part.format(**facts) if "{" in part else part for part in self.launcher]
        return [python, *launcher, entrypoint_path or self.entrypoint, *self.args]


@dataclass(frozen=True)
class LaunchPlan:
    """What the lifecycle asks of a provider besides the bundle: the names and tags the resources carry,
    the machine, and the hard runtime limit the remote side enforces on its own."""

    run_id: str
    owner: str
    host: str
    max_runtime_s: int
    gpu: str = "cpu"
    gpus: int = 0
    spot: bool = False
    region: str = ""
    secrets: tuple[str, ...] = ()
    usd_per_hour: Decimal = Decimal(0)
    offering: str = ""
    """The offering the price came from (RunPod: secure-cloud / community-cloud): launch on the one priced."""
    gpu_choices: tuple[str, ...] = ()
    """Every GPU the spec accepts (canonical names, ``gpu`` first) for a provider that can fall back."""
    nodes: int = 1
    """Machines, each with ``gpus`` GPUs; ``usd_per_hour`` is the rate of all of them together."""
    project: str = ""
    """The spec's project: on the resources too, so a cloud bill can be split by project without the ledger."""
    image: str = ""
    """``resources.image``: a prebuilt image with the stack installed (the bundle then asks to install nothing);
    empty: the launcher's own image."""

    @property
    def resource_name(self) -> str:
        return f"{RESOURCE_PREFIX}{self.run_id}"

    @property
    def tags(self) -> dict[str, str]:
        tags = {TAG_OWNER: self.owner, TAG_HOST: self.host, TAG_RUN: self.run_id}
        return {**tags, TAG_PROJECT: self.project} if self.project else tags


@dataclass(frozen=True)
class RunHandle:
    """How to find a run again: the provider, the run id, its resource id and provider-specific data.
    Must round-trip through JSON (``to_json`` / ``from_json``)."""

    provider: str
    run_id: str
    resource_id: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"provider": self.provider, "run_id": self.run_id, "resource_id": self.resource_id,
                           "data": self.data}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "RunHandle | None":
        """None for a missing or unreadable handle (stored records load leniently)."""
        try:
            raw = json.loads(text or "")
            return cls(str(raw["provider"]), str(raw["run_id"]), str(raw["resource_id"]), dict(raw.get("data") or {}))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Overhead:
    """Something billed for a run besides its own machine (SkyPilot's jobs controller VM): its rate while
    the run lasts, and how long it goes on billing after the run ends (``tail_s``)."""

    what: str
    usd_per_hour: Decimal
    tail_s: float
    source: str
    as_of: str

    @property
    def tail_usd(self) -> Decimal:
        return (self.usd_per_hour * Decimal(repr(self.tail_s)) / 3600).quantize(Decimal("0.000001"))


@dataclass(frozen=True)
class LaunchedOn:
    """The machine a provider actually started, when it chose among several (SkyPilot's optimizer), and
    its rate by our catalog (None when the catalog does not price that machine)."""

    cloud: str
    region: str
    gpu: str
    gpus: int
    usd_per_hour: Decimal | None = None
    source: str = ""
    as_of: str = ""


@dataclass(frozen=True)
class RunStatus:
    """A provider's answer to "how is it going": the state, the last progress line of the template, and
    for a finished run its exit code and error line. ``exists`` is False once the resource is gone.
    ``launched`` is the machine that came up, where the provider could choose it."""

    state: RunState
    message: str = ""
    exists: bool = True
    progress: dict[str, Any] | None = None
    exit_code: int | None = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    launched: LaunchedOn | None = None


@dataclass(frozen=True)
class Resource:
    """Something a provider is holding for us (a pod, a cluster, a work dir), found by its tags."""

    resource_id: str
    name: str
    run_id: str
    tags: dict[str, str]
    state: RunState
    handle: RunHandle
    created_at: float | None = None
    tag_form: Callable[[str], str] | None = field(default=None, compare=False, repr=False)
    """How the provider had to rewrite tag values (Modal tags, cloud labels refuse ``@``, ``.``, capitals):
    the owner and host asked about go through the same rewrite before they are compared."""

    @property
    def ours(self) -> bool:
        return self.name.startswith(RESOURCE_PREFIX)

    def owned_by(self, owner: str, host: str) -> bool:
        form = self.tag_form or (lambda value: value)
        return self.tags.get(TAG_OWNER) == form(owner) and self.tags.get(TAG_HOST) == form(host)
