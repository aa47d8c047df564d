"""What is particular to the local provider: the watchdog outlives the CLI, teardown ends the job's whole
process group, the job sees an allow-listed environment, and the cost is electricity from the settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from providers import local_procs
from providers.local import LocalProvider, job_env
from providers.types import LaunchPlan, RunState
from tests.contract.harness import Harness, processes_mentioning

LAUNCH_AND_EXIT = """
import sys
from pathlib import Path
from providers.local import LocalProvider
from tests.contract.harness import Harness
harness = Harness(LocalProvider(root=Path(sys.argv[1])), Path(sys.argv[2]))
run_id = sys.argv[3]
handle = harness.launch(harness.bundle(run_id, steps=int(sys.argv[4]), step_seconds=0.1), harness.plan(run_id))
print(handle.to_json(), flush=True)
if sys.argv[5] == "hang":
    import time; time.sleep(600)
"""


def launch_elsewhere(tmp_path, run_id: str, steps: int, then: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH_AND_EXIT, str(tmp_path / "root"), str(tmp_path), run_id,
                             str(steps), then], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    return proc, proc.stdout.readline()


def test_the_job_outlives_the_process_that_launched_it(tmp_path):
    from providers.types import RunHandle

    provider = LocalProvider(root=tmp_path / "root")
    proc, line = launch_elsewhere(tmp_path, f"orphan-20261115-120000-{os.urandom(2).hex()}", 8, "hang")
    proc.kill()  # kill -9 of "the CLI"
    proc.wait()
    proc.stdout.close()
    handle = RunHandle.from_json(line)
    harness = Harness(provider, tmp_path)
    assert harness.wait(handle).state == RunState.SUCCEEDED
    provider.teardown(handle)
    assert not processes_mentioning(handle.run_id)


def test_teardown_ends_the_whole_process_group(tmp_path):
    harness = Harness(LocalProvider(root=tmp_path / "root", grace_s=1), tmp_path)
    run_id = harness.run_id("group")
    script = ("import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{run_id}-grandchild'])\n"
              "print('TUNEPLAN_PROGRESS {\"step\": 1}', flush=True)\ntime.sleep(120)\n")
    handle = harness.launch(harness.script_bundle(run_id, script), harness.plan(run_id))
    assert harness.wait_running(handle).progress
    assert len(processes_mentioning(run_id)) >= 3  # watchdog, job, grandchild
    harness.provider.teardown(handle)
    assert not processes_mentioning(run_id)
    assert not (tmp_path / "root" / f"tp-{run_id}").exists()


def test_a_job_whose_watchdog_was_killed_is_still_accounted_for(tmp_path):
    harness = Harness(LocalProvider(root=tmp_path / "root"), tmp_path)
    run_id = harness.run_id("nowatch")
    handle = harness.launch(harness.bundle(run_id, steps=6, step_seconds=0.1), harness.plan(run_id))
    assert harness.wait_running(handle).progress
    status_file = tmp_path / "root" / f"tp-{run_id}" / "status.json"
    os.kill(json.loads(status_file.read_text())["watchdog_pid"], signal.SIGKILL)
    time.sleep(0.1)
    assert "without its watchdog" in harness.provider.status(handle).message
    assert harness.wait(handle).state == RunState.SUCCEEDED, "the job's own done line decides"


def test_the_job_environment_is_an_allow_list_plus_named_secrets():
    environ = {"PATH": "/bin", "HOME": "/home/a", "HF_HOME": "/cache", "HF_TOKEN": "hf_x", "AWS_SECRET_ACCESS_KEY": "k",
               "WANDB_API_KEY": "w", "OMP_NUM_THREADS": "2", "RANDOM_THING": "r", "LC_ALL": "C"}
    plan = LaunchPlan(run_id="e-20261115-120000-0001", owner="o", host="h", max_runtime_s=60, secrets=("HF_TOKEN",))
    env = job_env(plan, environ=environ)
    assert env["HF_TOKEN"] == "hf_x" and env["HF_HOME"] == "/cache" and env["PATH"] == "/bin"
    assert env["OMP_NUM_THREADS"] == "2" and env["LC_ALL"] == "C" and env["TUNEPLAN_RUN_ID"] == plan.run_id
    assert not {"AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY", "RANDOM_THING"} & set(env)


def test_a_pid_is_only_ours_when_its_command_line_says_so():
    me = os.getpid()
    assert local_procs.alive(me) and not local_procs.alive(me, "no-such-marker-in-my-cmdline")
    assert not local_procs.alive(None) and not local_procs.alive(-1)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.3)  # exited, not yet reaped: a zombie is not alive
    assert not local_procs.alive(child.pid)
    child.wait()


def test_the_price_is_electricity_from_the_settings(monkeypatch):
    rates = {}
    for kwh in ("0.25", "0.50"):
        monkeypatch.setenv("TUNEPLAN_ELECTRICITY__KWH_USD", kwh)
        cpu = next(o for o in LocalProvider().offers() if o.gpu == "cpu")
        assert cpu.source.startswith(f"electricity ${kwh}/kWh at ") and cpu.region == "local"
        rates[kwh] = cpu.usd_per_hour
    assert rates["0.50"] == 2 * rates["0.25"] > 0
    assert LocalProvider().capability("billing").supported is False
