"""Building the Modal App of one run with the real SDK: image, GPU function, Volume, secrets, tags.

Definitions only: nothing here talks to Modal (deploying and spawning are the provider's), so the whole App
can be built and checked offline. The function is ``remote_job.run_segment``; its hard limit is the
function ``timeout`` (one segment, at most 24 h), and the job dict passed at spawn tells it which segment
it is and when to stop itself. A run on several machines is a clustered function (``@modal.clustered``):
Modal starts ``nodes`` containers together, each with all the GPUs of its host, gives every call to all of
them and returns rank 0's answer; each container starts torchrun with its own node rank.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

from planner.errors import BadInput
from providers.modal.gpus import modal_gpu
from providers.modal.segments import MODAL_MAX_TIMEOUT_S, SegmentPlan, plan_segments
from providers.settings import ModalSettings
from providers.types import RESOURCE_PREFIX, Bundle, LaunchPlan

FUNCTION_NAME = "run_segment"
BUNDLE_PATH = "/tuneplan/bundle.tar.gz"
VOLUME_PATH = "/vol"
TAG_CALL = "tuneplan-call"
TAG_SEGMENT = "tuneplan-segment"
CPU_ONLY_CORES, CPU_ONLY_MEMORY_GIB = 1.0, 2
STARTUP_TIMEOUT_S = 600  # the container starts and imports a standard-library module: minutes is plenty
SCALEDOWN_S = 2  # the least Modal allows: an idle GPU container between segments is not kept (and billed)
MASTER_PORT = 29500  # torchrun's rendezvous port on the rank-0 container (the cluster's private network)
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Resources:
    """What one container reserves: the ``gpu=`` string (None: CPU only), cores and memory."""

    gpu: str | None
    gpus: int
    cpu_cores: float
    memory_gib: int


@dataclass
class BuiltApp:
    """The SDK objects of one run, and the job dict its calls receive."""

    app: Any
    function: Any
    volume: Any
    secrets: list
    image: Any
    segments: SegmentPlan
    resources: Resources
    job: dict

    def job_for(self, segment: int) -> dict:
        return {**self.job, "segment": segment}


def app_name(run_id: str) -> str:
    """``tp-<run id>``; Modal names must stay under 64 characters, so an over-long job name is shortened
    (the date and random part of the run id, which make it unique, are kept)."""
    name = f"{RESOURCE_PREFIX}{run_id}"
    if len(name) <= 63:
        return name
    head, tail = run_id[:-21], run_id[-21:]
    return f"{RESOURCE_PREFIX}{head[:63 - len(RESOURCE_PREFIX) - 21]}{tail}"


def tag_value(value: str) -> str:
    """Modal tags allow letters, digits, ``-``, ``.``, ``_`` and at most 63 characters."""
    return _TAG_UNSAFE.sub("-", value)[:63] or "-"


def container_resources(plan: LaunchPlan, settings: ModalSettings) -> Resources:
    gpu = modal_gpu(plan.gpu, plan.gpus)
    if gpu is None:
        return Resources(None, 0, CPU_ONLY_CORES, CPU_ONLY_MEMORY_GIB)
    return Resources(gpu, plan.gpus, settings.cpu_cores * plan.gpus, settings.memory_gib * plan.gpus)


def requirements(bundle: Bundle) -> list[str]:
    """The template's pinned requirements, as the bundle carries them (comments and blanks dropped)."""
    path = bundle.root / "requirements.txt"
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def build_app(bundle: Bundle, plan: LaunchPlan, settings: ModalSettings, cap_s: int = MODAL_MAX_TIMEOUT_S) -> BuiltApp:
    """The App for ``bundle`` under ``plan``: deploy it, then spawn ``function`` with ``job_for(0)``."""
    import modal

    from providers.modal import remote_job

    resources, nodes = container_resources(plan, settings), bundle.nodes
    if nodes > 1 and resources.gpu is None:
        raise BadInput("Modal clusters are GPU machines only: a CPU rehearsal on several machines runs locally "
                       "(tuneplan launch --provider local with resources.cpu_processes)")
    segments = plan_segments(plan.max_runtime_s, cap_s)
    if plan.image:  # the team's prebuilt image: its Python and packages as they are
        image = modal.Image.from_registry(plan.image.removeprefix("docker:"))
    else:
        image = modal.Image.debian_slim(python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
    reqs = requirements(bundle)
    if reqs:
        image = image.pip_install(*reqs)
    image = image.add_local_file(bundle.tarball, BUNDLE_PATH)
    volume = modal.Volume.from_name(settings.volume, create_if_missing=True)
    secrets = [modal.Secret.from_name(name) for name in plan.secrets]
    name = app_name(plan.run_id)
    app = modal.App(name, tags={key: tag_value(value) for key, value in plan.tags.items()})
    body = remote_job.run_segment
    if nodes > 1:  # RDMA: the GPU collectives between machines are the run's bottleneck
        body = modal.clustered(size=nodes, rdma=True)(body)
    function = app.function(
        image=image, gpu=resources.gpu, cpu=resources.cpu_cores, memory=resources.memory_gib * 1024,
        timeout=segments.timeout_s, startup_timeout=min(segments.timeout_s, STARTUP_TIMEOUT_S),
        volumes={VOLUME_PATH: volume}, secrets=secrets, retries=0,
        max_containers=nodes, name=FUNCTION_NAME, scaledown_window=SCALEDOWN_S,
    )(body)
    job = {"run_id": plan.run_id, "run_folder": name, "volume_path": VOLUME_PATH, "bundle_path": BUNDLE_PATH,
           "bundle_sha256": bundle.sha256, "entrypoint": bundle.entrypoint, "args": list(bundle.args),
           "launcher": list(bundle.launcher), "nodes": nodes, "master_port": MASTER_PORT,
           "output_dir": bundle.output_dir, "segment": 0, "segments": segments.count,
           "stop_after_s": segments.stop_after_s, "deadline_at": time.time() + plan.max_runtime_s,
           "volume_name": settings.volume}
    return BuiltApp(app, function, volume, secrets, image, segments, resources, job)


def local_job(built: BuiltApp, segment: int = 0, **paths: str) -> dict:
    """The job dict with its paths changed (for ``.local()`` runs outside a container)."""
    return replace(built, job={**built.job, **paths}).job_for(segment)
