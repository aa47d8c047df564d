"""A real ``sky launch --dryrun`` of the task tuneplan generates, fully offline (CONTRACTS §8, the recipe in
``tests/fixtures/skypilot-seed-v8/README.md``): an isolated HOME and SkyPilot runtime dir, its own API
server port, the seeded v8 catalogs, a fake RunPod GraphQL endpoint on 127.0.0.1 for SkyPilot's credential
check, and an ``rsync`` stub on PATH. SkyPilot's optimizer must choose, from the GPUs our recommendation
accepts, the one our own recommendation prices cheapest per hour on the same catalog. The API server this
test starts is stopped at the end, and no process of it may be left.

Slow by nature (SkyPilot starts its API server, ~20 s on a 2-core machine), so it is one test.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from planner.catalog.prices import PriceRow
from providers.skypilot import SkyPilotProvider, TaskOptions
from providers.skypilot.accelerators import canonical_from_sky
from providers.types import LaunchPlan
from tests.contract.harness import Harness

SEED = Path(__file__).parent / "fixtures" / "skypilot-seed-v8"
SKY = Path(sys.executable).with_name("sky")
TODAY = date(2026, 11, 26)
GPUS = 6  # the seed's RunPod rows offer 6-GPU machines of most types (it has no 1-GPU H100 or L40S rows)


class FakeRunPod(BaseHTTPRequestHandler):
    """Answers SkyPilot's RunPod credential check (``query myPods``) with an empty list of pods."""

    queries: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        FakeRunPod.queries.append(str(body.get("query", ""))[:40])
        key = "podTemplates" if "podTemplates" in str(body.get("query")) else "pods"
        payload = json.dumps({"data": {"myself": {key: []}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seeded_runtime(tmp_path: Path, graphql_port: int, api_port: int) -> dict[str, str]:
    """HOME, runtime dir with the seeded catalogs, RunPod config, rsync stub: the environment for `sky`."""
    home, runtime, bin_dir = tmp_path / "home", tmp_path / "runtime", tmp_path / "bin"
    catalogs = runtime / ".sky" / "catalogs" / "v8"
    for part in ("common/accelerators.csv", "common/metadata.csv", "runpod/vms.csv"):
        (catalogs / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SEED / part, catalogs / part)
    (home / ".runpod").mkdir(parents=True)
    (home / ".runpod" / "config.toml").write_text('[default]\napi_key = "x"\n')
    bin_dir.mkdir()
    (bin_dir / "rsync").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "rsync").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKYPILOT_", "AWS_", "GOOGLE_"))}
    env.update(HOME=str(home), SKY_RUNTIME_DIR=str(runtime), SKYPILOT_API_SERVER_LOCAL_PORT=str(api_port),
               SKYPILOT_DISABLE_USAGE_COLLECTION="1", RUNPOD_API_BASE_URL=f"http://127.0.0.1:{graphql_port}",
               PATH=f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '')}", NO_COLOR="1")
    return env


def seed_rows() -> list[PriceRow]:
    """The same RunPod catalog as price rows for our own recommender."""
    rows = []
    with (SEED / "runpod" / "vms.csv").open(newline="") as f:
        for raw in csv.DictReader(f):
            gpu = canonical_from_sky("runpod", raw["AcceleratorName"])
            if gpu is None:
                continue
            rows.append(PriceRow("runpod", "secure", gpu, int(float(raw["AcceleratorCount"])), raw["Region"],
                                 Decimal(raw["Price"]), Decimal(raw["SpotPrice"]), False,
                                 "SkyPilot v8 seed catalog runpod/vms.csv (test fixture)", TODAY, True,
                                 instance_type=raw["InstanceType"]))
    return rows


def our_recommendation():
    """Llama-3.1-8B LoRA on 6 GPUs (DDP), RunPod rows of the seed only: the fitting GPU types, cheapest first."""
    from planner.estimate.setup import TrainingSetup
    from planner.models import resolve_local
    from planner.plan import DataSize
    from planner.recommend import Constraints, Electricity, Job, LocalMachine, recommend

    job = Job(resolve_local("meta-llama/Llama-3.1-8B-Instruct"),
              TrainingSetup(method="lora", micro_batch=2, sharding="ddp").validated(), DataSize(5000, 600, 3))
    result = recommend(job, seed_rows(), LocalMachine(), Constraints(providers=frozenset({"runpod"}),
                       gpu_counts=frozenset({GPUS})), TODAY, Electricity(Decimal("0.30"), "test", False))
    fitting = [c for c in result.candidates if c.fits and c.cloud == "runpod" and c.gpus == GPUS]
    return sorted(fitting, key=lambda c: c.cost.usd_per_hour), result.candidates[0]


def processes_with_env(entry: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds ``entry`` (the API server and its workers)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            alive = (proc / "stat").read_text().rpartition(")")[2].split()[0] != "Z"
        except (OSError, IndexError):
            continue
        if proc.name.isdigit() and alive and entry.encode() in environ and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


def wait_until_gone(entry: str, timeout_s: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_with_env(entry)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def sky_cli(env: dict[str, str], *args: str, timeout: float = 240) -> str:
    done = subprocess.run([str(SKY), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert done.returncode == 0, f"sky {' '.join(args)} failed:\n{out[-3000:]}"
    return out


def chosen_row(output: str) -> tuple[str, int, Decimal]:
    """(SkyPilot accelerator, count, $/h) of the ✔ row of the optimizer's table."""
    for line in output.splitlines():
        if "✔" in line:
            match = re.search(r"\s([A-Za-z0-9-]+):(\d+)\s+([\d.]+)\s+✔", line)
            assert match, line
            return match.group(1), int(match.group(2)), Decimal(match.group(3))
    raise AssertionError(f"no chosen row in:\n{output[-2000:]}")


def test_sky_launch_dryrun_of_our_task_chooses_what_we_recommend(tmp_path):
    if not SKY.exists():
        pytest.skip("the skypilot extra is not installed")
    fitting, top = our_recommendation()
    assert len(fitting) >= 3, "the seed should offer several fitting 6-GPU machines"
    cheapest = fitting[0]
    plan = LaunchPlan(run_id="dry-20261126-120000-abcd", owner="tester", host="test-host", max_runtime_s=7200,
                      gpu=cheapest.gpu, gpus=GPUS, usd_per_hour=cheapest.cost.usd_per_hour, secrets=("HF_TOKEN",))
    provider = SkyPilotProvider(TaskOptions(gpu_choices=tuple(c.gpu for c in fitting)))
    bundle = Harness(provider, tmp_path).bundle(plan.run_id)
    task_yaml = tmp_path / "task.yaml"
    task_yaml.write_text(provider.render_task(bundle, plan))

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRunPod)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api_port = free_port()
    env = seeded_runtime(tmp_path, server.server_address[1], api_port)
    marks = [time.monotonic()]
    try:
        checked = sky_cli(env, "check", "runpod")
        marks.append(time.monotonic())
        assert "RunPod: enabled" in checked
        dry = sky_cli(env, "launch", "--dryrun", "-y", "--secret", "HF_TOKEN=not-a-real-token", str(task_yaml))
        marks.append(time.monotonic())
    finally:
        stopped = subprocess.run([str(SKY), "api", "stop"], env=env, capture_output=True, text=True, timeout=120)
        marks.append(time.monotonic())
        server.shutdown()
        server.server_close()
    print("\nseconds: " + ", ".join(f"{what} {b - a:.1f}" for what, a, b in
                                     zip(("sky check (starts the API server)", "sky launch --dryrun", "sky api stop"),
                                         marks, marks[1:], strict=False)))
    assert "Dryrun finished." in dry
    sky_name, count, usd_per_hour = chosen_row(dry)
    print("\n" + "\n".join(line for line in dry.splitlines() if "RunPod (" in line or "INFRA" in line))
    print(f"\nsky launch --dryrun chose {sky_name}:{count} at ${usd_per_hour}/h; ours: cheapest per hour "
          f"{cheapest.gpu}:{cheapest.gpus} at ${cheapest.cost.usd_per_hour}/h, top-ranked overall {top.gpu}:{top.gpus}"
          f" on {top.cloud} at ${top.cost.usd_per_hour}/h (${top.usd} for the run)")
    assert canonical_from_sky("runpod", sky_name) == cheapest.gpu and count == GPUS
    assert usd_per_hour == cheapest.cost.usd_per_hour
    assert "stopped" in (stopped.stdout + stopped.stderr)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", api_port)) != 0, "the API server still answers"
    assert not wait_until_gone(f"SKY_RUNTIME_DIR={tmp_path / 'runtime'}"), "a SkyPilot process outlived the test"
    assert FakeRunPod.queries, "SkyPilot's credential check went to the fake endpoint"
