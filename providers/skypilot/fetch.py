"""Bringing a run's output folder home before SkyPilot deletes the machine.

A cluster job's output is pulled with ``rsync`` over the SSH alias SkyPilot writes for each cluster
(``ssh <cluster>`` works once ``~/.ssh/config`` includes SkyPilot's generated entries; the SDK does not
write them, so ``ssh_config_for`` does what ``sky status`` does for the CLI). A managed job's output
lives in the bucket, and is synced down with the command SkyPilot's own ``cloud_stores`` builds for that
bucket's scheme (``aws s3 sync``, ``gsutil rsync`` ...). Verification (sha256 against the template's
manifest) is the lifecycle's job, after this returns.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from providers.types import ProviderError

TIMEOUT_S = 1800


def rsync_command(rsync: str, cluster: str, remote_dir: str, dest: Path, include_checkpoints: bool) -> list[str]:
    command = [rsync, "-a", "--delete"]
    if not include_checkpoints:
        command += ["--exclude", "checkpoints/"]
    return [*command, f"{cluster}:{remote_dir.rstrip('/')}/", f"{dest}/"]


def run_copy(command: list[str] | str, what: str) -> None:
    """Run a copy command; a failure is one line with the tool's last error line."""
    try:
        done = subprocess.run(command, shell=isinstance(command, str), capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except FileNotFoundError:
        tool = command[0] if isinstance(command, list) else command.split()[0]
        raise ProviderError(f"{what}: {tool} is not installed (it copies the artifacts home)") from None
    except subprocess.TimeoutExpired:
        raise ProviderError(f"{what}: no answer in {TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise ProviderError(f"{what}: {last[:300]}")


def listed(dest: Path, include_checkpoints: bool) -> list[str]:
    """The relative paths now in ``dest`` (what was copied)."""
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    return [f for f in files if include_checkpoints or not f.startswith("checkpoints/")]


def bucket_sync_command(url: str, dest: Path) -> str:
    """SkyPilot's own command for copying a bucket folder down (its ``cloud_stores`` knows each scheme)."""
    from sky import cloud_stores

    store = cloud_stores.get_storage_from_path(url)
    return store.make_sync_dir_command(url, str(dest))


def ssh_config_for(sky, record) -> None:
    """Write the cluster's SSH alias as ``sky status`` does (needs the record's credentials)."""
    handle, credentials = record.get("handle"), record.get("credentials")
    if handle is None or not credentials or not getattr(handle, "cached_external_ips", None):
        return
    from sky.utils import cluster_utils

    cluster_utils.SSHConfigHelper.add_cluster(handle.cluster_name, handle.cluster_name_on_cloud,
                                              handle.cached_external_ips, credentials,
                                              handle.cached_external_ssh_ports, handle.docker_user, handle.ssh_user)
