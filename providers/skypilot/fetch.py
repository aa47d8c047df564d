"""Bringing a run's output folder home before SkyPilot deletes the machine.

A cluster job's output is pulled with ``rsync`` over the SSH alias SkyPilot writes for each cluster
(``ssh <cluster>`` works once ``~/.ssh/config`` includes SkyPilot's generated entries; the SDK does not
write them, so ``ssh_config_for`` does what ``sky status`` does for the CLI). A managed job's output
lives in the bucket, and is synced down with the bucket's own tool (``aws s3 sync``, ``gsutil rsync``), run
from an argument list (a path with a space or a ``;`` is only a path). Each copy runs under the pull's
limits: a deadline, and a byte cap checked on the destination while the tool runs. Verification (sha256
against the template's manifest) is the lifecycle's job, after this returns.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from providers.pull_limits import PullBudget, PullLimitExceeded
from providers.safe_paths import regular_files
from providers.types import ProviderError

POLL_S = 0.5


def rsync_command(rsync: str, cluster: str, remote_dir: str, dest: Path, include_checkpoints: bool,
                  max_file_bytes: int | None = None) -> list[str]:
    """``-rt`` and not ``-a``: plain files and folders only; a symlink on the cluster is skipped, never
    copied as a link (a link would point anywhere on this machine once it lands)."""
    command = [rsync, "-rt", "--no-links", "--no-devices", "--no-specials", "--delete"]
    if max_file_bytes is not None:
        command.append(f"--max-size={max_file_bytes}")
    if not include_checkpoints:
        command += ["--exclude", "checkpoints/"]
    return [*command, f"{cluster}:{remote_dir.rstrip('/')}/", f"{dest}/"]


def bucket_sync_command(url: str, dest: Path, include_checkpoints: bool = False) -> tuple[list[str], dict[str, str]]:
    """The argument list (and extra environment) that copies a bucket folder down; no shell is involved, so a
    space or a ``;`` in ``dest`` is just part of the path. Built here rather than taken from SkyPilot's
    ``cloud_stores``, whose commands are shell strings with the paths unquoted. Checkpoints stay in the bucket
    unless asked for."""
    skip_s3 = [] if include_checkpoints else ["--exclude", "checkpoints/*"]
    if url.startswith("s3://"):
        return ["aws", "s3", "sync", "--no-follow-symlinks", "--only-show-errors", *skip_s3, url, str(dest)], {}
    if url.startswith("gs://"):
        skip = [] if include_checkpoints else ["-x", "^checkpoints/"]
        return ["gsutil", "-m", "-q", "rsync", "-e", "-r", *skip, url, str(dest)], {}
    if url.startswith("r2://"):
        from sky.adaptors import cloudflare

        return (["aws", "s3", "sync", "--no-follow-symlinks", "--only-show-errors", *skip_s3,
                 "s3://" + url.removeprefix("r2://"), str(dest), "--endpoint-url", cloudflare.create_endpoint(),
                 "--profile", cloudflare.R2_PROFILE_NAME],
                {"AWS_SHARED_CREDENTIALS_FILE": os.path.expanduser(cloudflare.R2_CREDENTIALS_PATH)})
    raise ProviderError(f"pulling from {url.split('://')[0]}:// buckets is not built yet (s3, gs and r2 are); "
                        f"copy {url} by hand before tearing the job down")


def read_bucket_file(url: str, timeout_s: float = 120.0, max_bytes: int = 16 << 20) -> bytes | None:
    """One small object of a bucket (``aws s3 cp URL -``, ``gsutil cat URL``), or None when it is not there
    or cannot be read."""
    if url.startswith("s3://"):
        command = ["aws", "s3", "cp", "--only-show-errors", url, "-"]
    elif url.startswith("gs://"):
        command = ["gsutil", "-q", "cat", url]
    else:
        return None
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and len(done.stdout) <= max_bytes else None


def run_copy(command: list[str], what: str, dest: Path, budget: PullBudget, env: dict[str, str] | None = None) -> None:
    """Run a copy tool (never through a shell) while watching ``dest``: past the byte cap or the deadline it
    is stopped and the pull fails. A failure is one line with the tool's last error line."""
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env={**os.environ, **(env or {})}, start_new_session=True)
    except FileNotFoundError:
        raise ProviderError(f"{what}: {command[0]} is not installed (it copies the artifacts home)") from None
    try:
        while child.poll() is None:
            budget.check_time(what)
            _check_size(dest, budget, what)
            time.sleep(POLL_S)
    except PullLimitExceeded:
        child.kill()
        child.wait()
        raise
    _check_size(dest, budget, what)
    if child.returncode != 0:
        lines = child.stderr.read().decode("utf-8", "replace").strip().splitlines() if child.stderr else []
        raise ProviderError(f"{what}: {(lines or [f'exit code {child.returncode}'])[-1][:300]}")


def listed(dest: Path, include_checkpoints: bool) -> list[str]:
    """The relative paths now in ``dest`` (what was copied; anything but a plain file is refused)."""
    files = sorted(rel for rel, _ in regular_files(dest))
    return [f for f in files if include_checkpoints or not f.startswith("checkpoints/")]


def _check_size(dest: Path, budget: PullBudget, what: str) -> None:
    size = sum(entry.stat(follow_symlinks=False).st_size for entry in _entries(dest))
    if size > budget.limits.max_bytes:
        budget.take(size, what)


def _entries(folder: Path):
    try:
        with os.scandir(folder) as found:
            for entry in found:
                if entry.is_dir(follow_symlinks=False):
                    yield from _entries(Path(entry.path))
                else:
                    yield entry
    except FileNotFoundError:
        return


def ssh_config_for(sky, record) -> None:
    """Write the cluster's SSH alias as ``sky status`` does (needs the record's credentials)."""
    handle, credentials = record.get("handle"), record.get("credentials")
    if handle is None or not credentials or not getattr(handle, "cached_external_ips", None):
        return
    from sky.utils import cluster_utils

    cluster_utils.SSHConfigHelper.add_cluster(handle.cluster_name, handle.cluster_name_on_cloud,
                                              handle.cached_external_ips, credentials,
                                              handle.cached_external_ssh_ports, handle.docker_user, handle.ssh_user)
