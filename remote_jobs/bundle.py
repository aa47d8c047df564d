"""Building a bundle: the directory a provider runs, plus the tarball that travels and its sha256.

Layout::

    <task>.py          the template (found with importlib.resources in remote_jobs.templates)
    job.json           the resolved JobSpec, data and model paths relative to the bundle
    requirements.txt   what the remote Python needs (templates/requirements-<task>.txt)
    data/...  model/   the local inputs
    bundle.json        the manifest: every other file with its size and sha256, the command, secret *names*

Nothing secret goes in: a secret is a name in ``bundle.json``; the provider injects its value at run time.
Files are hard-linked into the directory where the file system allows (a large local model is not copied
twice); the tarball is a real copy, and its sha256 is what the provider checks on arrival.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from dataclasses import asdict
from importlib import resources
from pathlib import Path

from planner.errors import BadInput
from providers.private_files import private_dir, restrict_tree
from providers.types import Bundle, BundleFile
from remote_jobs.distributed import RunShape, launcher_args, shape_of
from remote_jobs.resolve import OUTPUT_DIR, ResolvedJob

MANIFEST = "bundle.json"
FORMAT = 1


def template_text(name: str) -> bytes:
    """A file shipped in ``remote_jobs.templates`` (the top-level ``templates/`` folder of the source)."""
    entry = resources.files("remote_jobs.templates") / name
    if not entry.is_file():
        raise BadInput(f"no template file {name} in remote_jobs.templates")
    return entry.read_bytes()


def build_bundle(job: ResolvedJob, run_id: str, root: Path, shape: RunShape | None = None) -> Bundle:
    """Write the bundle directory at ``root`` and the tarball next to it; return both, with the manifest.
    ``shape`` (default: the spec's own) is how many processes start where: job.json says it to the template
    and the launcher arguments start them. A smoke job is always one process."""
    if root.exists():  # run ids carry 16 random bits: a clash is rare, and must not clobber another run
        raise BadInput(f"{root} already exists (run id clash): launch again")
    private_dir(root.parent)
    root.mkdir(mode=0o700)
    task = job.spec.task
    entrypoint = f"{task}.py"
    (root / entrypoint).write_bytes(template_text(entrypoint))
    shape = RunShape() if task == "smoke" else shape or shape_of(job.spec)
    (root / "job.json").write_text(json.dumps({**job.job_json(), "distributed": shape.job_json()}, indent=2) + "\n",
                                   encoding="utf-8")
    (root / "requirements.txt").write_bytes(_requirements(task) + _tracking_requirements(job.spec)
                                            if not job.spec.resources.image else _prebuilt(job.spec.resources.image))
    for item in job.inputs:
        place(item.source, root / item.bundle_path)
    return seal_bundle(root, run_id, task, entrypoint, job.template_args(), tuple(job.spec.secrets),
                       launcher=launcher_args(shape), cpu_only=shape.cpu and shape.world_size > 1)


def seal_bundle(root: Path, run_id: str, task: str, entrypoint: str, args: tuple[str, ...],
                secrets: tuple[str, ...] = (), output_dir: str = OUTPUT_DIR, launcher: tuple[str, ...] = (),
                cpu_only: bool = False) -> Bundle:
    """Write the manifest of a filled bundle directory and its tarball (also for hand-made bundles)."""
    (root / MANIFEST).unlink(missing_ok=True)
    files = tuple(_describe(root, path) for path in sorted(root.rglob("*")) if path.is_file())
    manifest = {"format": FORMAT, "run_id": run_id, "task": task, "entrypoint": entrypoint, "args": list(args),
                "output_dir": output_dir, "requirements": "requirements.txt", "secrets": list(secrets),
                "launcher": list(launcher), "cpu_only": cpu_only, "files": [asdict(f) for f in files]}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    restrict_tree(root)
    tarball = root.with_name(root.name + ".tar.gz")
    _tar(root, tarball)
    return Bundle(root=root, task=task, entrypoint=entrypoint, args=tuple(args), output_dir=output_dir,
                  files=files, tarball=tarball, sha256=sha256_file(tarball), secrets=tuple(secrets),
                  launcher=tuple(launcher), cpu_only=cpu_only)


def verify_bundle(bundle: Bundle) -> list[str]:
    """Problems with the bundle directory against its manifest (empty when every file matches)."""
    problems = []
    for entry in bundle.files:
        path = bundle.root / entry.path
        if not path.is_file():
            problems.append(f"{entry.path}: missing")
        elif sha256_file(path) != entry.sha256:
            problems.append(f"{entry.path}: sha256 differs from the manifest")
    return problems


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _requirements(task: str) -> bytes:
    try:
        return template_text(f"requirements-{task}.txt")
    except BadInput:
        return b"# this template needs the Python standard library only\n"


# What the training machine adds for the spec's tracking backend (MLflow's SQLite store needs SQLAlchemy and
# alembic, which mlflow-skinny leaves out): pinned to the versions the tests ran with; wandb as its extra says.
TRACKING_REQUIREMENTS = {
    "mlflow": b"# tracking: mlflow\nmlflow-skinny==3.18.0\nSQLAlchemy==2.1.9\nalembic==1.20.1\n",
    "wandb": b"# tracking: wandb\nwandb>=0.19\n",
}


def _tracking_requirements(spec) -> bytes:
    return TRACKING_REQUIREMENTS.get(getattr(getattr(spec, "tracking", None), "backend", "none"), b"")


def _prebuilt(image: str) -> bytes:
    """A prebuilt image brings the stack: the machine installs nothing (every launcher skips an empty list)."""
    return (f"# resources.image {image} has the training stack installed: nothing to install here\n"
            f"# (the template's own list: templates/requirements-<task>.txt)\n").encode()


def place(source: Path, target: Path) -> None:
    """Hard-link (else copy) a file or a whole directory into the bundle (hidden files and links left out)."""
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
            place(path, target / path.relative_to(source))
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _describe(root: Path, path: Path) -> BundleFile:
    return BundleFile(path.relative_to(root).as_posix(), path.stat().st_size, sha256_file(path))


def _tar(root: Path, tarball: Path) -> None:
    """gzip level 1: data files shrink a lot, weights barely at all, so more effort buys little."""
    tmp = tarball.with_name(tarball.name + ".tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    os.replace(tmp, tarball)
