"""Memory of keeping a finished run's log before its teardown, for a log of any size.

A remote log is outside input: 256 MiB of it once cost +1.2 GiB of RSS while the lifecycle read it whole
before the teardown. This writes a log of ``--mib`` MiB in a local-provider work dir, then measures in a fresh
process the peak RSS growth of what ``remote_jobs.finish`` does with it (the provider's ``logs`` with a tail,
bounded by ``providers.log_lines.last_lines``), and with ``--whole`` what it used to do (every line in a list).

    .venv/bin/python bench/bench_log_tail.py --mib 256
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
from providers.local import LocalProvider
from providers.types import RunHandle
workdir, whole = Path(sys.argv[1]), sys.argv[2] == "whole"
provider = LocalProvider(root=workdir.parent)
handle = RunHandle("local", "bench", workdir.name, {"workdir": str(workdir)})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if whole:
    lines = list(provider.logs(handle, follow=False))
    kept = len(lines)
else:
    from providers.log_lines import SAVED_LOG_BYTES, last_lines
    lines, dropped = last_lines(provider.logs(handle, follow=False, tail_bytes=SAVED_LOG_BYTES), SAVED_LOG_BYTES)
    kept = len(lines)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rss_growth_mib": round((after - before) / 1024, 1), "seconds": round(seconds, 3), "lines_kept": kept}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--whole", action="store_true", help="read every line into a list (the old way)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "tp-bench"
        workdir.mkdir()
        line = ("x" * 99 + "\n").encode()
        with (workdir / "run.log").open("wb") as log:
            for _ in range(args.mib * 1024 * 1024 // len(line)):
                log.write(line)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MEASURE, str(workdir), "whole" if args.whole else "tail"],
                              capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        result = json.loads(done.stdout)
        result.update(log_mib=args.mib, mode="whole" if args.whole else "tail", wall_s=round(time.perf_counter() - started, 2))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
