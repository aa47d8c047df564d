"""The only door to the ``sky`` SDK: imported lazily (≈ 2.5 s, never at import time of tuneplan), every
request resolved with ``sky.get``, every SDK failure turned into a one-line ``ProviderError``.

SkyPilot 0.14 is client-server: each SDK call is a request to an API server. When the user has
configured one (``SKYPILOT_API_SERVER_ENDPOINT`` or ``api_server.endpoint`` in ``~/.sky/config.yaml``),
SkyPilot uses it; otherwise the first call starts a local server on 127.0.0.1 that keeps running after
tuneplan exits (``sky api stop`` ends it). tuneplan never stops a server it did not start.

``sky.get`` waits for a request with no time limit (sky/client/sdk.py:2429-2434: read timeout None), so a
stuck API server would hang ``status`` and ``teardown``: ``resolve`` waits in a helper thread and gives up
after a deadline with a TransientProviderError (the helper thread is a daemon and ends with the process).

Error messages pass through ``scrub`` so a secret value that an SDK error might echo never reaches a
log, the ledger or the terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from providers.types import ProviderError, TransientProviderError

INSTALL_HINT = "pip install 'tuneplan[skypilot]'"
TRANSIENT = ("ApiServerConnectionError", "ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout",
             "RequestInterruptedError", "ServerTemporarilyUnavailableError")
GONE = ("ClusterDoesNotExist",)
NOT_UP = "ClusterNotUpError"
NO_CONTROLLER = "No in-progress managed jobs"  # the jobs controller is stopped or was never launched
REQUEST_TIMEOUT_S = 120.0  # reads (status, queues, logs metadata)
SLOW_REQUEST_TIMEOUT_S = 900.0  # sky.down / jobs.cancel: terminating instances takes minutes
LIVE_REQUEST_STATES = ("PENDING", "WAITING", "RUNNING")


# What the managed-jobs queue is asked for, and what to say when the local API server is down.
QUEUE_FIELDS = ["job_id", "job_name", "status", "recovery_count", "failure_reason", "start_at", "end_at",
                "submitted_at", "labels", "cluster_resources", "cluster_resources_full", "cloud", "region",
                "accelerators"]
SERVER_DOWN = ("SkyPilot's local API server is not running, so tuneplan cannot see your clusters and managed "
               "jobs without starting one: start it with `sky api start` to check")

def load_sky():
    """The ``sky`` package, or a one-line error that says how to install it."""
    os.environ.setdefault("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import sky
            import sky.jobs  # noqa: F401
    except ImportError:
        raise ProviderError(f"SkyPilot is not installed ({INSTALL_HINT})") from None
    return sky


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """One line, secret values replaced by ``***``."""
    line = " ".join(str(text).split())
    for value in secrets:
        if value and len(value) >= 4:
            line = line.replace(value, "***")
    return line[:400]


def is_gone(exc: BaseException) -> bool:
    return type(exc).__name__ in GONE


def fail(exc: BaseException, doing: str, secrets: Iterable[str] = ()) -> ProviderError:
    """The ProviderError (transient when worth retrying) for an SDK exception."""
    name = type(exc).__name__
    text = scrub(str(exc), secrets) or name
    if name in TRANSIENT or isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientProviderError(f"SkyPilot {doing}: {text} (is the API server reachable? `sky api info`)")
    return ProviderError(f"SkyPilot {doing}: {name}: {text}")


class NoAnswer(Exception):
    """A call to the API server did not return within its deadline."""


def bounded(call: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """``call()`` in a daemon helper thread; NoAnswer when it has not returned after ``timeout_s``.

    The SDK's HTTP reads have no read timeout (``sky.get`` and ``sky.api_status`` pass ``timeout=(5, None)``,
    sky/client/sdk.py:2429-2434 and 2712-2717), so this is the only way to bound them from outside.
    """
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    # The SDK keeps the server's API version in context variables (sky/server/versions.py:49-52): the
    # helper thread runs in a copy of the caller's context so it sees what the caller already learned.
    worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"skypilot {what}",
                              daemon=True)
    with contextlib.redirect_stdout(io.StringIO()):
        worker.start()
        worker.join(timeout_s)
    if worker.is_alive():
        raise NoAnswer(what)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def resolve(sky, request, doing: str, secrets: Iterable[str] = (), timeout_s: float = REQUEST_TIMEOUT_S,
            passthrough: tuple[str, ...] = ()) -> Any:
    """Submit (``request`` is a callable returning a request id, or an id already submitted) and
    ``sky.get`` it within ``timeout_s``: the request's result, or a ProviderError.

    ``ClusterDoesNotExist`` and the exception names in ``passthrough`` are re-raised as they are, so the
    caller can tell "gone" / "no controller" from a failure. No answer in time is a TransientProviderError.
    """
    submit = request if callable(request) else (lambda: request)
    try:
        return bounded(lambda: sky.get(submit()), timeout_s, doing)
    except NoAnswer:
        raise TransientProviderError(f"SkyPilot {doing}: no answer from the API server in {timeout_s:g} s "
                                     "(`sky api status` lists its requests; `sky api info` checks it)") from None
    except Exception as exc:  # any SDK failure becomes one line; "gone" stays recognisable
        if is_gone(exc) or type(exc).__name__ in passthrough:
            raise
        raise fail(exc, doing, secrets) from None


def no_managed_jobs(exc: BaseException) -> bool:
    """The managed-jobs queue was asked while no jobs controller is up: there are no unfinished managed jobs.

    ``queue_v2(refresh=False)`` raises ClusterNotUpError then (sky/jobs/server/core.py:1381-1393, the
    message is the controller's "No in-progress managed jobs."); the same error with "Failed to connect"
    means the controller exists but is unreachable, which is not "none".
    """
    return type(exc).__name__ == NOT_UP and NO_CONTROLLER in str(exc)


def request_state(sky, request_id: str, timeout_s: float = REQUEST_TIMEOUT_S) -> tuple[str, str]:
    """(status name, error line) of an earlier request, e.g. ("RUNNING", "") or ("FAILED", "...")."""
    try:
        payloads = bounded(lambda: sky.api_status([request_id]), timeout_s, "request status")
    except NoAnswer:
        return "UNKNOWN", f"no answer from the API server in {timeout_s:g} s"
    except Exception as exc:  # the server may be gone; the caller treats this as "unknown"
        return "UNKNOWN", scrub(str(exc))
    for payload in payloads or []:
        if str(getattr(payload, "request_id", "")).startswith(str(request_id)):
            return str(getattr(payload, "status", "UNKNOWN")).rpartition(".")[2], request_error(payload)
    return "UNKNOWN", ""


def request_error(payload) -> str:
    """A request's error as one readable line. The API server sends ``error`` as the JSON of
    ``{"object": <base64 pickle>, "type", "message"}`` (``Request.set_error``/``encode`` in
    sky/server/requests/requests.py), or "null": the type and message are read, the pickle never is (it
    came over the network)."""
    raw = getattr(payload, "error", None)
    if raw in (None, "", "null"):
        return ""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return scrub(str(raw))
    if not isinstance(data, dict):
        return scrub(str(data)) if data is not None else ""
    kind, message = str(data.get("type") or ""), " ".join(str(data.get("message") or "").split())
    return scrub(f"{kind}: {message}" if kind and message else kind or message)


def endpoint(sky) -> tuple[str, bool]:
    """(API server URL, whether it is a local one that SkyPilot starts itself)."""
    from sky.server import common

    url = common.get_server_url()
    return url, bool(common.is_api_server_local(url))


def local_server_not_running() -> bool:
    """The endpoint is on this machine and nothing answers there (any SDK call would start a server)."""
    from urllib.parse import urlparse

    from sky.server import common

    url = common.get_server_url()
    if urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1") and not common.is_api_server_local(url):
        return False
    return common.get_api_server_status(url).status != common.ApiServerStatus.HEALTHY


LOG_PREFIX = re.compile(r"^\([^)]*pid=\d+[^)]*\)\s?")


class TailText(io.TextIOBase):
    """A text stream for ``tail_logs(output_stream=...)`` that keeps only its last ``max_chars``."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars, self._text = max_chars, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._text = (self._text + text)[-self.max_chars:]
        return len(text)

    def getvalue(self) -> str:
        return self._text


# The module each cloud's SkyPilot extra installs (skypilot's setup_files/dependencies.py), by cloud.
CLOUD_SDK_MODULES = {"aws": "boto3", "gcp": "googleapiclient", "azure": "azure.identity", "lambda": None,
                     "runpod": "runpod"}


def missing_cloud_extras(clouds) -> list[str]:
    """The clouds whose SDK SkyPilot needs is not installed here."""
    import importlib.util

    missing = []
    for cloud in clouds:
        module = CLOUD_SDK_MODULES.get(cloud)
        try:
            found = module is None or importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package (azure) is missing
            found = False
        if not found:
            missing.append(cloud)
    return missing


def idle_bounded(make_stream: Callable[[], Any], idle_s: float, what: str) -> Iterator[Any]:
    """The chunks of ``make_stream()``, read in a daemon helper thread: NoAnswer when no chunk (or end) comes
    for ``idle_s``. A finished job's log streams without pauses, so a silent stream is a stuck server; the
    helper is left to end with the process, as in ``bounded``."""
    import queue

    chunks: queue.Queue = queue.Queue(maxsize=64)
    done = object()

    def work() -> None:
        try:
            for chunk in make_stream():
                chunks.put(("chunk", chunk))
            chunks.put(("end", done))
        except BaseException as exc:  # handed to the reader below
            chunks.put(("error", exc))

    threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"skypilot {what}", daemon=True).start()
    while True:
        try:
            kind, value = chunks.get(timeout=idle_s)
        except queue.Empty:
            raise NoAnswer(what) from None
        if kind == "error":
            raise value
        if kind == "end":
            return
        yield value


def until_none(stream) -> Iterator[str]:
    """The chunks of a ``tail_logs(..., preload_content=False)`` stream, which ends with a None."""
    for chunk in stream:
        if chunk is None:
            return
        yield chunk


def clean_line(line: str) -> str:
    """A job's output line without SkyPilot's ``(task, pid=123)`` prefix or the line ending."""
    return LOG_PREFIX.sub("", line.rstrip("\r\n"))
