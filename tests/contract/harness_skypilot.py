"""The SkyPilot provider in the contract suite, with SkyPilot's SDK boundary faked (CONTRACTS §8): the real
provider on ``tests.contract.fake_sky.FakeSky`` (where the ``sky`` package stands), with ``rsync`` and ``aws``
as small scripts that copy from the fake cluster disks and buckets, standing in for the real tools.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from tests.contract.fake_sky import FakeSky
from tests.contract.harness import Harness

FAKE_RSYNC = """#!{python}
import shutil, sys, pathlib
args = sys.argv[1:]
exclude = [args[i + 1] for i, a in enumerate(args) if a == "--exclude"]
src, dest = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "--exclude")][-2:]
host, _, path = src.partition(":")
source = pathlib.Path({root!r}) / "clusters" / host / path.replace("~/", "")
if not source.is_dir():
    sys.exit("rsync: change_dir " + str(source) + " failed: No such file or directory")
ignore = shutil.ignore_patterns(*[e.rstrip("/") for e in exclude])
shutil.copytree(source, dest, ignore=ignore, dirs_exist_ok=True)
"""

FAKE_AWS = """#!{python}
import shutil, sys, pathlib
args = sys.argv[1:]
assert args[:2] in (["s3", "sync"], ["s3", "cp"]), args
excluded = [args[i + 1] for i, a in enumerate(args) if a == "--exclude"]
src, dest = [a for i, a in enumerate(args) if i >= 2 and not a.startswith("--") and args[i - 1] != "--exclude"]
source = pathlib.Path({root!r}) / "buckets" / src.removeprefix("s3://")
if args[1] == "cp":  # aws s3 cp s3://bucket/key - : the object to stdout
    if not source.is_file():
        sys.exit("fatal error: An error occurred (404) when calling the HeadObject operation: Key does not exist")
    sys.stdout.buffer.write(source.read_bytes())
    sys.exit(0)
if not source.is_dir():
    sys.exit("fatal error: the bucket folder " + src + " does not exist")
ignore = shutil.ignore_patterns(*[e.split("/")[0] for e in excluded])  # "checkpoints/*" -> the folder
shutil.copytree(source, dest, ignore=ignore, dirs_exist_ok=True)
"""


def tool(folder: Path, name: str, template: str, root: Path) -> Path:
    path = folder / name
    path.write_text(template.format(python=sys.executable, root=str(root)), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def make_provider(tmp_path: Path, bucket: str | None = "s3://tp-test-bucket/tuneplan", **provider_args):
    from providers.skypilot import SkyPilotProvider, TaskOptions

    root = tmp_path / "fake-sky"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    fake = FakeSky(root)
    rsync = tool(root / "bin", "rsync", FAKE_RSYNC, root)
    tool(root / "bin", "aws", FAKE_AWS, root)
    options = TaskOptions(bucket=bucket, idle_minutes=1, python=sys.executable)
    return SkyPilotProvider(options, sdk_module=fake, rsync=str(rsync), poll_s=0.05, **provider_args), fake


def make_harness(tmp_path: Path) -> Harness:
    provider, _ = make_provider(tmp_path)
    return Harness(provider, tmp_path)
