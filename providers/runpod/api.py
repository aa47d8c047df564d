"""Talking to RunPod's API: GraphQL with variables, the REST billing endpoint, retries for passing failures
and one-line errors for everything else.

Why not the runpod SDK's API functions: in 1.10.1 they paste values into the GraphQL text, so a quote or a
newline in an env value breaks the request (or changes it). Here every value travels as a GraphQL variable.
The key goes in the Authorization header only. No message this module raises carries the key, a request
body (it holds secret env values) or any value the caller names as secret: the API can echo variables
back in its validation errors, so error text is scrubbed before it becomes an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from providers.runpod.config import KEY_FIX
from providers.types import ProviderError, TransientProviderError

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# What an error means depends on the operation it answers: only a create can mean "no machine free", only a
# query or terminate naming a pod can mean "that pod is gone". The phrases are RunPod's own, kept tight so
# that e.g. "not enough funds" is never read as no capacity, nor an unknown GPU type as a missing pod.
CREATE = "create"
POD_LOOKUP = "pod"
NO_CAPACITY_HINTS = ("no longer any instances available", "no instances available with",
                     "could not find any pods with required specifications", "out of capacity",
                     "not enough free gpus", "no gpus available")
FUNDS_HINTS = ("not enough funds", "insufficient funds", "insufficient balance", "low balance", "add credit",
               "add funds")
POD_NOT_FOUND_HINTS = ("not found", "does not exist", "no pod", "invalid pod")  # asked only about one pod
FUNDS_FIX = "add credit at https://www.runpod.io/console/user/billing"
MESSAGE_CHARS = 240


class NoCapacity(ProviderError):
    """RunPod has no machine for that GPU type (and cloud) right now."""

    title = "no capacity"


class PodNotFound(ProviderError):
    """The pod named in the request does not exist (any more)."""

    title = "pod not found"


class RunpodApi:
    """One RunPod account at one endpoint. ``sleep`` and the delays are injectable so tests stay fast."""

    def __init__(self, api_key: str, base_url: str, timeout_s: float = 30.0, attempts: int = 4,
                 first_delay_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout_s, self.attempts, self.first_delay_s, self.sleep = timeout_s, attempts, first_delay_s, sleep
        self._secrets: set[str] = set()

    def scrub(self, values: Iterable[str]) -> None:
        """Never let these values appear in an error message (secret env values of a launch)."""
        self._secrets.update(v for v in values if v and len(v) >= 4)

    # --- calls ----------------------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict[str, Any] | None = None, what: str = "a GraphQL request",
                retry: bool = True, operation: str = "") -> dict[str, Any]:
        """The ``data`` of a GraphQL answer; errors become ProviderError subclasses with one clean line.

        ``operation`` (``CREATE`` or ``POD_LOOKUP``) says which special errors this request can mean."""
        payload = {"query": query, "variables": variables or {}}
        response = self._send("POST", "/graphql", what, retry, json=payload)
        body = _json(response, what)
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise self._graphql_error(errors, what, operation)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ProviderError(f"RunPod gave an unexpected answer to {what} (no data)")
        return data

    def get(self, path: str, params: dict[str, str], what: str) -> Any:
        """A REST GET under the same endpoint (the billing API lives at ``/v2/billing/...``)."""
        return _json(self._send("GET", path, what, True, params=params), what)

    # --- plumbing -------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, what: str, retry: bool, **kwargs):
        import httpx

        headers = {"authorization": f"Bearer {self._key}", "content-type": "application/json",
                   "user-agent": "tuneplan"}
        attempts = self.attempts if retry else 1
        delay, last = self.first_delay_s, ""
        for attempt in range(1, attempts + 1):
            try:
                response = httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=self.timeout_s,
                                         **kwargs)
            except httpx.TimeoutException:
                last = f"no answer within {self.timeout_s:g} s"
            except httpx.TransportError as exc:
                last = f"could not reach {self.base_url} ({type(exc).__name__})"
            else:
                if response.status_code in (401, 403):
                    raise ProviderError(f"RunPod rejected the API key (HTTP {response.status_code}): {KEY_FIX}")
                if response.status_code not in RETRY_STATUS:
                    if response.status_code >= 400:
                        raise ProviderError(f"RunPod answered HTTP {response.status_code} to {what}: "
                                            f"{self._clean(_error_text(response))}")
                    return response
                last = f"HTTP {response.status_code}"
            if attempt < attempts:
                self.sleep(delay)
                delay = min(delay * 2, 30.0)
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        raise TransientProviderError(f"RunPod API failed for {what}{tries} ({last}); try again later "
                                     "(status: https://uptime.runpod.io)")

    def _graphql_error(self, errors: list, what: str, operation: str = "") -> ProviderError:
        first = errors[0] if isinstance(errors, list) and errors else {}
        message = first.get("message", "") if isinstance(first, dict) else str(first)
        clean = self._clean(str(message))
        return classify_error(clean, what, operation)

    def _clean(self, text: str) -> str:
        """One line, short, with the key and every registered secret value removed."""
        for secret in (self._key, *self._secrets):
            if secret:
                text = text.replace(secret, "***")
        line = " ".join(text.split())
        return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS] + "…"


def classify_error(clean: str, what: str, operation: str = "") -> ProviderError:
    """The exception for one (already scrubbed) GraphQL error message, read in the light of the operation."""
    lowered = clean.lower()
    if "unauthorized" in lowered or "api key" in lowered:
        return ProviderError(f"RunPod rejected the API key: {KEY_FIX}")
    if any(hint in lowered for hint in FUNDS_HINTS):
        return ProviderError(f"RunPod refused {what}: {clean} ({FUNDS_FIX})")
    if operation == CREATE and any(hint in lowered for hint in NO_CAPACITY_HINTS):
        return NoCapacity(clean)
    if operation == POD_LOOKUP and any(hint in lowered for hint in POD_NOT_FOUND_HINTS):
        return PodNotFound(clean)
    return ProviderError(f"RunPod refused {what}: {clean}")


def _json(response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(f"RunPod's answer to {what} is not JSON (HTTP {response.status_code})") from None


def _error_text(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:MESSAGE_CHARS] or "no details"
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
        return str(body.get("error") or body.get("message") or body)
    return str(body)
