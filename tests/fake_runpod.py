"""A fake RunPod API on 127.0.0.1 with pods that really run, for the RunPod provider's tests.

What is real: the provider's HTTP client and GraphQL documents (the fake refuses a query that pastes values
into its text instead of using variables), the pod's boot script (run by bash with the env the create
request carried), the agent on the pod, sshd's config and the SSH protocol (paramiko's server, see
``fake_runpod_sshd.py``), the pod's self-termination with its pod-scoped key, and the billing endpoint.
What is fake: RunPod's scheduler and the container. A "pod" is a process group on this machine whose home
folder is its container disk; terminating it kills every process carrying its ``FAKE_RUNPOD_POD`` marker
(a container takes all its processes with it) and deletes the folder. Its SSH port is a free local port.

Faults: ``fail_next`` (a list of "500", "503", "timeout" or "pass", one per coming request: a timeout still
does the work, then answers too late; "pass" answers normally), ``no_capacity`` (GPU type ids with no
machine free), ``create_errors`` (GPU type id → the error message a create for it gets, e.g. RunPod's "not enough funds"),
``billing_lag_s`` (the billing endpoint publishes usage only up to that many seconds ago, in hourly buckets
whose in-progress one holds what it has so far, as RunPod's does). The fake "image" has no network:
``PIP_NO_INDEX=1`` is set in every pod, so a pip install that would download fails instead.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "runpod"
SSHD_SHIM = Path(__file__).with_name("fake_runpod_sshd.py")
KEY = "rp_fake_account_key_never_print"
NO_CAPACITY = "There are no longer any instances available with the requested specifications. Please refresh and try again."


@dataclass
class FakePod:
    pod_id: str
    name: str
    request: dict
    env: dict[str, str]
    usd_per_hour: Decimal
    home: Path
    created_at: float = field(default_factory=time.time)
    process: subprocess.Popen | None = None
    desired: str = "RUNNING"

    def ssh_port(self) -> int | None:
        try:
            return int((self.home / "tuneplan" / "sshd.port").read_text())
        except (OSError, ValueError):
            return None


class FakeRunpod:
    def __init__(self, root: Path, provisioning_s: float = 0.1, timeout_sleep_s: float = 1.5) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.gpu_types = json.loads((FIXTURES / "gpu_types.json").read_text())["data"]["gpuTypes"]
        self.provisioning_s, self.timeout_sleep_s = provisioning_s, timeout_sleep_s
        self.pods: dict[str, FakePod] = {}
        self.ended: list[tuple[str, Decimal, float, float]] = []  # (pod id, $/h, created, terminated)
        self.fail_next: list[str] = []
        self.anonymous = False  # answer the account queries with "myself": null, as for a key that is not an account
        self.no_capacity: set[str] = set()
        self.create_errors: dict[str, str] = {}
        self.billing_lag_s = 0.0
        self.calls: list[str] = []  # operation names, never bodies
        self.created: list[str] = []  # every pod id ever made, so stop() can make sure none outlives the fake
        self._terminations: list[threading.Thread] = []
        self.lock = threading.RLock()
        self.bin = self._make_bin()
        self.server: ThreadingHTTPServer | None = None

    # --- lifetime -------------------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                fake._answer(self)

            def do_GET(self):  # noqa: N802
                fake._answer(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        """End every pod, including those whose termination is still under way in the background (a pod
        agent that outlived the fake would retry its own termination against a server that is gone)."""
        for thread in list(self._terminations):
            thread.join(timeout=10)
        for pod_id in list(self.pods):
            self.terminate(pod_id)
        for pod_id in self.created:
            if marked_pids(pod_id):
                _kill_marked(pod_id)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- HTTP -----------------------------------------------------------------------------------------
    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length).decode() if length else ""
        fault = self.fail_next.pop(0) if self.fail_next else None
        if fault in ("500", "502", "503"):
            return _send(request, int(fault), {"error": "fake outage"})
        key = (request.headers.get("authorization") or "").removeprefix("Bearer ")
        url = urlsplit(request.path)
        if url.path == "/graphql" and request.command == "POST":
            status, payload = self._graphql(key, body)
        elif url.path == "/v2/billing/pods" and request.command == "GET":
            status, payload = self._billing(key, parse_qs(url.query))
        else:
            status, payload = 404, {"error": "not found"}
        if fault == "timeout":
            time.sleep(self.timeout_sleep_s)
        _send(request, status, payload)

    def _graphql(self, key: str, body: str) -> tuple[int, dict]:
        try:
            message = json.loads(body)
        except ValueError:
            return 400, {"errors": [{"message": "body is not JSON"}]}
        query, variables = message.get("query", ""), message.get("variables") or {}
        pod_key = key.startswith("pod-key-")
        if key != KEY and not pod_key:
            return 401, {"error": "unauthorized"}
        operation = _operation(query)
        if operation != "gpuTypes" and ("input: {" in query or "input:{" in query):
            return 200, _error("the fake accepts values only as GraphQL variables")
        self.calls.append(operation)
        if pod_key and not (operation == "podTerminate" and key == f"pod-key-{variables['input']['podId']}"):
            return 401, {"error": "a pod key can only terminate its own pod"}
        with self.lock:
            return 200, self._operations()[operation](variables)

    def _operations(self):
        if self.anonymous:  # GraphQL answers 200 with no account behind the key: myself is null
            return {**self._answers(), "myself.id": lambda v: {"data": {"myself": None}},
                    "myself.pods": lambda v: {"data": {"myself": None}}}
        return self._answers()

    def _answers(self):
        return {"gpuTypes": lambda v: {"data": {"gpuTypes": self.gpu_types}},
                "myself.id": lambda v: {"data": {"myself": {"id": "user_fake"}}},
                "myself.pods": lambda v: {"data": {"myself": {"pods": [self._pod_json(p, True) for p in self.pods.values()]}}},
                "pod": self._query_pod, "podFindAndDeployOnDemand": lambda v: self._create(v, False),
                "podRentInterruptable": lambda v: self._create(v, True), "podTerminate": self._terminate_op,
                "unknown": lambda v: _error("the fake does not know this operation")}

    def _query_pod(self, variables: dict) -> dict:
        pod = self.pods.get(variables["input"]["podId"])
        return {"data": {"pod": self._pod_json(pod, False) if pod else None}}

    def _create(self, variables: dict, spot: bool) -> dict:
        data = variables["input"]
        gpu = next((t for t in self.gpu_types if t["id"] == data["gpuTypeId"]), None)
        if gpu is None:
            return _error(f"unknown gpu type {data['gpuTypeId']}")
        if data["gpuTypeId"] in self.no_capacity:
            return _error(NO_CAPACITY)
        if data["gpuTypeId"] in self.create_errors:
            return _error(self.create_errors[data["gpuTypeId"]])
        cloud = data["cloudType"].lower()
        price = gpu[f"{cloud}SpotPrice"] if spot else gpu[f"{cloud}Price"]
        if spot and Decimal(str(data["bidPerGpu"])) < Decimal(str(price)):
            return _error("bid is below the minimum bid price")
        pod_id = uuid.uuid4().hex[:14]
        env = {item["key"]: item["value"] for item in data.get("env") or []}
        rate = Decimal(str(spot and data["bidPerGpu"] or price)) * data["gpuCount"]
        pod = FakePod(pod_id, data["name"], data, env, rate, self.root / pod_id / "home")
        self.pods[pod_id] = pod
        self.created.append(pod_id)
        threading.Timer(self.provisioning_s, self._boot, args=(pod,)).start()
        return {"data": {"podRentInterruptable" if spot else "podFindAndDeployOnDemand": {
            "id": pod_id, "name": pod.name, "desiredStatus": "RUNNING", "costPerHr": float(rate)}}}

    def _terminate_op(self, variables: dict) -> dict:
        pod_id = variables["input"]["podId"]
        if pod_id not in self.pods:
            return _error(f"pod {pod_id} not found")
        thread = threading.Thread(target=self.terminate, args=(pod_id,), daemon=True)
        self._terminations.append(thread)
        thread.start()
        return {"data": {"podTerminate": None}}

    def _billing(self, key: str, query: dict) -> tuple[int, object]:
        if key != KEY:
            return 401, {"error": "unauthorized"}
        self.calls.append("billing")
        pod_id = (query.get("podId") or [""])[0]
        records = [r for pid, rate, start, end in self.ended if pid == pod_id for r in self.bill_records(pid, rate, start, end)]
        return 200, {"records": records, "metadata": {"podId": pod_id}}

    def bill_records(self, pod_id: str, rate: Decimal, start: float, end: float) -> list[dict]:
        """Hourly records of one ended pod, as far as billing has got (``billing_lag_s`` behind now)."""
        published = time.time() - self.billing_lag_s
        records, hour = [], start - start % 3600
        while hour < min(end, published):
            used = max(0.0, min(end, hour + 3600, published) - max(start, hour))
            amount = (rate * Decimal(str(used / 3600))).quantize(Decimal("0.000001"))
            records.append({"podId": pod_id, "time": datetime.fromtimestamp(hour, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"), "totalAmount": float(amount), "timeBilledMs": int(used * 1000)})
            hour += 3600
        return records

    def billed(self, pod_id: str) -> Decimal:
        """What the billing endpoint lists for the pod now (the sum of its records)."""
        return sum((Decimal(str(r["totalAmount"])) for pid, rate, start, end in self.ended if pid == pod_id
                    for r in self.bill_records(pid, rate, start, end)), Decimal(0))

    # --- pods -----------------------------------------------------------------------------------------
    def _pod_json(self, pod: FakePod, with_env: bool) -> dict:
        port = pod.ssh_port() if pod.process is not None else None
        runtime = None if pod.process is None else {"uptimeInSeconds": int(time.time() - pod.created_at), "ports": (
            [{"ip": "127.0.0.1", "isIpPublic": True, "privatePort": 22, "publicPort": port, "type": "tcp"}]
            if port else [])}
        raw = {"id": pod.pod_id, "name": pod.name, "desiredStatus": pod.desired, "costPerHr": float(pod.usd_per_hour),
               "gpuCount": pod.request["gpuCount"], "lastStatusChange": "", "runtime": runtime}
        if with_env:
            raw["env"] = [f"{k}={v}" for k, v in pod.env.items()]
        return raw

    def _boot(self, pod: FakePod) -> None:
        """Start the container: its start command, with its env and RunPod's own variables."""
        with self.lock:
            if pod.pod_id not in self.pods:
                return
            pod.home.mkdir(parents=True, exist_ok=True)
            env = {"HOME": str(pod.home), "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                   "PIP_NO_INDEX": "1", **pod.env, "RUNPOD_POD_ID": pod.pod_id, "RUNPOD_API_KEY": f"pod-key-{pod.pod_id}",
                   "FAKE_RUNPOD_POD": pod.pod_id}
            log = (pod.home.parent / "container.log").open("ab")
            pod.process = subprocess.Popen(shlex.split(pod.request["dockerArgs"]), cwd=pod.home, env=env,
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            log.close()

    def terminate(self, pod_id: str) -> None:
        with self.lock:
            pod = self.pods.pop(pod_id, None)
        if pod is None:
            return
        self.ended.append((pod_id, pod.usd_per_hour, pod.created_at, time.time()))
        _kill_marked(pod_id)
        if pod.process is not None:
            pod.process.wait(timeout=5)
        shutil.rmtree(pod.home.parent, ignore_errors=True)

    def _make_bin(self) -> Path:
        """The "image": python3 (this interpreter) and sshd (the paramiko stand-in), on the pod's PATH."""
        folder = self.root / "image-bin"
        folder.mkdir(exist_ok=True)
        (folder / "python3").write_text(f'#!/bin/bash\nexec "{sys.executable}" "$@"\n')
        (folder / "sshd").write_text(f'#!/bin/bash\nnohup "{sys.executable}" "{SSHD_SHIM}" "$@" '
                                     '>> "$HOME/sshd-shim.log" 2>&1 &\n')
        for name in ("python3", "sshd"):
            (folder / name).chmod(0o755)
        return folder


def _operation(query: str) -> str:
    for name in ("podFindAndDeployOnDemand", "podRentInterruptable", "podTerminate", "gpuTypes"):
        if name in query:
            return name
    if "pod(input" in query:
        return "pod"
    if "pods" in query and "myself" in query:
        return "myself.pods"
    return "myself.id" if "myself" in query else "unknown"


def _error(message: str) -> dict:
    return {"errors": [{"message": message}], "data": None}


def _send(request: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    data = json.dumps(payload).encode()
    try:
        request.send_response(status)
        request.send_header("content-type", "application/json")
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def marked_pids(pod_id: str) -> list[int]:
    """Processes of the fake pod: every process whose environment carries its marker."""
    marker = f"FAKE_RUNPOD_POD={pod_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _kill_marked(pod_id: str) -> None:
    for sig, wait_s in ((signal.SIGTERM, 0.3), (signal.SIGKILL, 2.0)):  # a short grace keeps the suite fast
        pids = marked_pids(pod_id)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _alive(marked_pids(pod_id)):
            time.sleep(0.05)


def _alive(pids: list[int]) -> bool:
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            return True
    return False
