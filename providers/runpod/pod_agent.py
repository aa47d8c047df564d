"""The agent that runs on a RunPod pod: it runs one job and is the pod's dead-man timer.

The boot script (``providers.runpod.boot``) starts it as the pod's main process. It waits for the bundle
(tuneplan uploads it over SSH), checks its sha256, unpacks it, installs the bundle's ``requirements.txt``
with pip (when it names anything: the image has torch, not the template's libraries) and runs the job, each
in its own process group with its output in ``run.log``. The hard runtime limit counts from the start of the
install, so a hanging install is stopped too (``budget_stopped``), as is anything on SIGTERM
(``cancelled``). Then it keeps the pod up for the pull window, so tuneplan can fetch the outputs, and ends
the pod itself through RunPod's API with the pod-scoped key RunPod gives every pod (``RUNPOD_API_KEY``,
``RUNPOD_POD_ID``). It does the same when no bundle arrives in time. So whatever happens to the CLI that
launched it, the pod is gone after at most boot timeout + runtime limit + pull window.

It writes ``status.json`` atomically at every change: that file is what tuneplan reads over SSH.
Standard library only, Python 3.8+: it runs with the image's own python3, where tuneplan is not installed.

RunPod restarts the container when its main process (this agent) exits, and the container disk survives.
So ``life.json`` keeps, across restarts, when the pod first booted, how often the agent started, and the
job's absolute deadline: a restart never gets a fresh clock, a job that already ended is not run again, and
after ``MAX_STARTS`` starts (or past the pod's absolute end) the agent only ends the pod. Every error is
caught on the way to ``end_of_life``. If RunPod's API will not terminate the pod (the pod-scoped key may not
be allowed to, the image may lack CA certificates), the agent gives up asking at the pod's absolute end plus
``GIVE_UP_AFTER_S`` and exits, so the container stops; whether a pod whose container has stopped still bills
is RunPod's rule, not ours (``tuneplan reap`` from any machine ends it).

    python3 pod_agent.py --dir ~/tuneplan
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request

POLL_S = 0.1
GRACE_S = 5.0
TERMINATE_RETRY_S = 30.0
MAX_STARTS = 3  # agent starts (container restarts included) before it only ends the pod
LIFE_SLACK_S = 600.0  # on top of boot timeout + runtime limit + pull window: the pod's absolute end
GIVE_UP_AFTER_S = 900.0  # past the absolute end, stop asking the API and exit (the second guard)
OWN_PREFIX = "TUNEPLAN_POD_"
REQUIREMENTS = "requirements.txt"
DROPPED_FROM_JOB = ("RUNPOD_API_KEY", "PUBLIC_KEY")
TERMINATE = "mutation TerminatePod($input: PodTerminateInput!) { podTerminate(input: $input) }"


class Agent:
    def __init__(self, workdir: str, env: dict) -> None:
        self.dir, self.env = workdir, env
        self.status = {"state": "provisioning", "phase": "waiting_for_bundle", "agent_pid": os.getpid(),
                       "child_pid": None, "started_at": None, "ended_at": None, "exit_code": None, "error": None,
                       "deadline_at": None, "ends_pod_at": None}
        self.stop_reason = None

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def write(self, **changes) -> None:
        self.status.update(changes)
        tmp = self.path(".status.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.status, f)
        os.replace(tmp, self.path("status.json"))

    def request_stop(self, signum, frame) -> None:
        self.stop_reason = self.stop_reason or "stopped by signal %s (teardown)" % signal.Signals(signum).name

    def number(self, name: str, default: float) -> float:
        try:
            return float(self.env.get(name) or default)
        except ValueError:
            return default


def wait_for_bundle(agent: Agent, timeout_s: float) -> str | None:
    """The uploaded tarball's path, or None when none arrived in time (or we were told to stop)."""
    deadline = time.time() + timeout_s
    agent.write(ends_pod_at=deadline)
    target = agent.path("bundle.tgz")
    while time.time() < deadline and not agent.stop_reason:
        if os.path.isfile(target):
            return target
        time.sleep(POLL_S)
    return None


def unpack(agent: Agent, tarball: str) -> str | None:
    """Check the sha256 the launch expects, unpack; an error line, or None when all is well."""
    digest = hashlib.sha256()
    with open(tarball, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    expected = agent.env.get("TUNEPLAN_POD_SHA256", "")
    if digest.hexdigest() != expected:
        return "the bundle that arrived does not match its sha256 (%s..., expected %s...)" % (
            digest.hexdigest()[:12], expected[:12])
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(agent.path("bundle"), filter="data")
        else:
            tar.extractall(agent.path("bundle"))
    return None


def job_env(env: dict, run_id: str) -> dict:
    """The pod's env minus the agent's own settings and the pod-scoped API key; named secrets stay."""
    kept = {k: v for k, v in env.items() if not k.startswith(OWN_PREFIX) and k not in DROPPED_FROM_JOB}
    kept.update(PYTHONUNBUFFERED="1", TUNEPLAN_RUN_ID=run_id)
    return kept


def end_group(child: subprocess.Popen, grace_s: float):
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            return child.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    return child.poll()


def last_done(log_path: str) -> dict:
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(log_path) - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        if line.startswith("TUNEPLAN_DONE "):
            try:
                found = json.loads(line.partition(" ")[2])
                return found if isinstance(found, dict) else {}
            except ValueError:
                return {}
    return {}


def has_requirements(path: str) -> bool:
    """True when the requirements file names anything (not only comments and blank lines)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except OSError:
        return False
    return any(line and not line.startswith("#") for line in lines)


def spawn(agent: Agent, argv: list, log_path: str) -> subprocess.Popen:
    """A child in its own process group, in the bundle, its output appended to ``run.log``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, cwd=agent.path("bundle"),
                                env=job_env(agent.env, agent.env.get("TUNEPLAN_POD_RUN_ID", "")),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def install_requirements(agent: Agent, log_path: str, deadline: float, limit_s: float):
    """pip-install the bundle's requirements.txt before the job; (state, error) when it did not succeed."""
    if not has_requirements(agent.path(os.path.join("bundle", REQUIREMENTS))):
        return None
    with open(log_path, "ab") as log:
        log.write(b"tuneplan: installing requirements.txt with pip\n")
    child = spawn(agent, [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                          "-r", REQUIREMENTS], log_path)
    agent.write(phase="installing", child_pid=child.pid)
    state, reason = supervise(agent, child, deadline, limit_s)
    if state == "succeeded":
        return None
    return state, reason or "installing requirements.txt failed (pip exit code %s; see run.log)" % child.returncode


def run_job(agent: Agent, limit_s: float, life: dict) -> None:
    entry = agent.env.get("TUNEPLAN_POD_ENTRYPOINT", "")
    args = json.loads(agent.env.get("TUNEPLAN_POD_ARGS") or "[]")
    log_path = agent.path("run.log")
    started = time.time()
    deadline = life.setdefault("deadline_at", started + limit_s)  # fixed at the first start, kept across restarts
    save_life(agent, life)
    if started >= deadline:
        agent.write(state="budget_stopped", phase="ended", ended_at=started, error="hard runtime limit of %d s "
                    "reached (the container restarted after it)" % int(limit_s))
        return
    agent.write(state="running", phase="starting", started_at=agent.status.get("started_at") or started,
                deadline_at=deadline)
    failed = install_requirements(agent, log_path, deadline, limit_s)
    if failed is not None:
        agent.write(state=failed[0], phase="ended", ended_at=time.time(), exit_code=None, error=failed[1])
        return
    launcher = json.loads(agent.env.get("TUNEPLAN_POD_LAUNCHER") or "[]")  # torchrun, one process per GPU
    child = spawn(agent, [sys.executable] + list(launcher) + [os.path.join(agent.path("bundle"), entry)] + list(args),
                  log_path)
    agent.write(phase="running", child_pid=child.pid)
    state, reason = supervise(agent, child, deadline, limit_s)
    done = last_done(log_path)
    error = reason or (None if state == "succeeded" else done.get("error") or "exit code %s" % child.returncode)
    agent.write(state=state, phase="ended", ended_at=time.time(), exit_code=child.returncode, error=error)


def supervise(agent: Agent, child: subprocess.Popen, deadline: float, limit_s: float):
    while True:
        try:
            code = child.wait(timeout=POLL_S)
            return ("succeeded" if code == 0 else "failed"), None
        except subprocess.TimeoutExpired:
            pass
        if agent.stop_reason:
            end_group(child, GRACE_S)
            return "cancelled", agent.stop_reason
        if time.time() >= deadline:
            end_group(child, GRACE_S)
            return "budget_stopped", "hard runtime limit of %d s reached" % int(limit_s)


def terminate_pod(agent: Agent) -> bool:
    """Ask RunPod to terminate this pod with the pod's own key; True when the API said yes."""
    pod_id, key = agent.env.get("RUNPOD_POD_ID"), agent.env.get("RUNPOD_API_KEY")
    url = (agent.env.get("TUNEPLAN_POD_API_URL") or "https://api.runpod.io").rstrip("/") + "/graphql"
    if not pod_id or not key:
        return False
    body = json.dumps({"query": TERMINATE, "variables": {"input": {"podId": pod_id}}}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json",
                                                 "authorization": "Bearer " + key, "user-agent": "tuneplan-agent"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            payload = json.loads(answer.read().decode() or "{}")
    except (OSError, ValueError):
        return False
    return not payload.get("errors")


def end_of_life(agent: Agent, why: str, give_up_at: float) -> bool:
    """Terminate the pod; keep asking until RunPod does it (the container dies with the pod), or until
    ``give_up_at``: then return False and let the agent exit, the guard that needs no API."""
    agent.write(phase="terminating", note=why)
    while not terminate_pod(agent):
        if time.time() >= give_up_at:
            agent.write(phase="gave_up_terminating", note=why + "; RunPod's API did not end the pod: the agent exits")
            return False
        agent.write(phase="terminate_failed")
        time.sleep(agent.number("TUNEPLAN_POD_TERMINATE_RETRY_S", TERMINATE_RETRY_S))
    return True


def load_life(agent: Agent) -> dict:
    try:
        with open(agent.path("life.json"), encoding="utf-8") as f:
            life = json.load(f)
    except (OSError, ValueError):
        life = {}
    return life if isinstance(life, dict) else {}


def save_life(agent: Agent, life: dict) -> None:
    tmp = agent.path(".life.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(life, f)
    os.replace(tmp, agent.path("life.json"))


def previous_status(agent: Agent) -> dict:
    try:
        with open(agent.path("status.json"), encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def linger(agent: Agent, window_s: float) -> None:
    """Keep the outputs available for tuneplan to pull, for at most ``window_s``."""
    until = time.time() + window_s
    agent.write(ends_pod_at=until)
    while time.time() < until and not agent.stop_reason:
        time.sleep(POLL_S)


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description="run one tuneplan job on this pod, then end the pod")
    parser.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    agent = Agent(args.dir, dict(os.environ))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, agent.request_stop)
    life = load_life(agent)
    life["starts"] = int(life.get("starts") or 0) + 1
    life.setdefault("first_boot_at", time.time())
    save_life(agent, life)
    ends_at = life["first_boot_at"] + sum(agent.number(name, default) for name, default in (
        ("TUNEPLAN_POD_LIFE_SLACK_S", LIFE_SLACK_S),
        ("TUNEPLAN_POD_BOOT_TIMEOUT_S", 1200), ("TUNEPLAN_POD_MAX_RUNTIME_S", 60), ("TUNEPLAN_POD_PULL_WINDOW_S", 900)))
    why = "the agent stopped"
    try:
        why = live(agent, life, ends_at)
    except Exception as exc:  # noqa: BLE001 - whatever broke (a full disk ...), the pod must still end
        agent.write(state="failed", phase="ended", ended_at=time.time(), error="the pod agent failed: %s: %s" % (
            type(exc).__name__, " ".join(str(exc).split())[:300]))
        why = "the agent failed"
    finally:
        ended = end_of_life(agent, why, ends_at + agent.number("TUNEPLAN_POD_GIVE_UP_AFTER_S", GIVE_UP_AFTER_S))
    return 0 if ended else 1


def live(agent: Agent, life: dict, ends_at: float) -> str:
    """The agent's work for this start; why the pod is to end now."""
    before = previous_status(agent)
    if before.get("phase") in ("ended", "terminating", "terminate_failed", "gave_up_terminating"):
        agent.status.update(before)  # the job already ended: never run it again, only keep the pull window
        linger(agent, max(0.0, float(before.get("ends_pod_at") or 0) - time.time()))
        return "pull window over (after a restart)"
    if life["starts"] > MAX_STARTS or time.time() >= ends_at:
        agent.write(state="failed", phase="ended", ended_at=time.time(), error="the pod's container was restarted "
                    "%d times, or the pod outlived its end; ending it" % life["starts"])
        return "too many restarts"
    agent.write()
    tarball = wait_for_bundle(agent, agent.number("TUNEPLAN_POD_BOOT_TIMEOUT_S", 1200))
    if tarball is None:
        agent.write(state="failed", phase="ended", ended_at=time.time(),
                    error=agent.stop_reason or "no bundle arrived before the boot timeout (the CLI is gone?)")
        return "no bundle"
    problem = unpack(agent, tarball)
    if problem:
        agent.write(state="failed", phase="ended", ended_at=time.time(), error=problem)
    else:
        run_job(agent, agent.number("TUNEPLAN_POD_MAX_RUNTIME_S", 60), life)
    linger(agent, agent.number("TUNEPLAN_POD_PULL_WINDOW_S", 900))
    return "pull window over"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
