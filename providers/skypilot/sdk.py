"""The only door to the ``sky`` SDK: imported lazily (≈ 2.5 s, never at import time of tuneplan), every
request resolved with ``sky.get``, every SDK failure turned into a one-line ``ProviderError``.

SkyPilot 0.14 is client-server: each SDK call is a request to an API server. When the user has
configured one (``SKYPILOT_API_SERVER_ENDPOINT`` or ``api_server.endpoint`` in ``~/.sky/config.yaml``),
SkyPilot uses it; otherwise the first call starts a local server on 127.0.0.1 that keeps running after
tuneplan exits (``sky api stop`` ends it). tuneplan never stops a server it did not start.

Error messages pass through ``scrub`` so a secret value that an SDK error might echo never reaches a
log, the ledger or the terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterable
from typing import Any

from providers.types import ProviderError, TransientProviderError

INSTALL_HINT = "pip install 'tuneplan[skypilot]'"
TRANSIENT = ("ApiServerConnectionError", "ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout",
             "RequestInterruptedError", "ServerTemporarilyUnavailableError")
GONE = ("ClusterDoesNotExist",)


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


def resolve(sky, request_id, doing: str, secrets: Iterable[str] = ()) -> Any:
    """``sky.get(request_id)``: the request's result, or a ProviderError (``ClusterDoesNotExist`` re-raised)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return sky.get(request_id)
    except Exception as exc:  # any SDK failure becomes one line; "gone" stays recognisable
        if is_gone(exc):
            raise
        raise fail(exc, doing, secrets) from None


def request_state(sky, request_id: str) -> tuple[str, str]:
    """(status name, error line) of an earlier request, e.g. ("RUNNING", "") or ("FAILED", "...")."""
    try:
        payloads = sky.api_status([request_id])
    except Exception as exc:  # the server may be gone; the caller treats this as "unknown"
        return "UNKNOWN", scrub(str(exc))
    for payload in payloads or []:
        if str(getattr(payload, "request_id", "")).startswith(str(request_id)):
            return str(getattr(payload, "status", "UNKNOWN")).rpartition(".")[2], scrub(getattr(payload, "error", "") or "")
    return "UNKNOWN", ""


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


def clean_line(line: str) -> str:
    """A job's output line without SkyPilot's ``(task, pid=123)`` prefix or the line ending."""
    return LOG_PREFIX.sub("", line.rstrip("\r\n"))
