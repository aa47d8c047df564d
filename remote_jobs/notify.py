"""Telling people a run ended: a Slack-compatible webhook and a desktop notification, once per run.

Why once, and from here: the end of a run is observed by whoever is looking (``watch``, the TUI, a ``jobs``
refresh, ``reap``), possibly on two machines at once; the ledger's ``notified_at`` is claimed with a conditional
update, so exactly one of them announces it. Why after the teardown: the message carries the run's cost, and
nothing here may delay or skip a teardown — it runs after it, bounded (``TIMEOUT_S``), and a failure to notify is
a note on the run, never an error.

The webhook URL is a secret (it lets anyone post to the channel): it is never printed or written to a note.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import urllib.error
import urllib.request
from typing import Any

from providers.plain_text import one_line
from remote_jobs.money import show_usd
from remote_jobs.records import RunRecord

TIMEOUT_S = 5.0


def message(record: RunRecord) -> str:
    """One line: what ended, how, in how long, for how much."""
    seconds = sum(s for s in (record.provisioning_s, record.running_s) if s is not None)
    took = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
    cost = record.cost_usd
    why = f": {one_line(record.failure_reason, 200)}" if record.failure_reason else ""
    return (f"tuneplan: {record.run_id} {record.state.value}{why} after {took} on {record.provider}/{record.gpu or 'cpu'}"
            f", cost {show_usd(cost)} (estimate {show_usd(record.estimate_usd)}), project {record.project}")


def payload(record: RunRecord) -> dict[str, Any]:
    """Slack's incoming-webhook shape (``text``), with the facts beside it for other receivers."""
    return {"text": message(record), "run": {
        "run_id": record.run_id, "state": record.state.value, "project": record.project, "owner": record.owner,
        "provider": record.provider, "gpu": record.gpu, "cost_usd": None if record.cost_usd is None else str(record.cost_usd),
        "estimate_usd": None if record.estimate_usd is None else str(record.estimate_usd),
        "failure_reason": record.failure_reason}}


def announce_end(ledger: Any, record: RunRecord, settings: Any = None) -> list[str]:
    """Announce a finished run once (the first caller wins the claim); returns what went wrong, for the run's notes."""
    if not record.finished:
        return []
    settings = settings or _settings()
    webhook = settings.notify.webhook_url.get_secret_value() if settings and settings.notify.webhook_url else None
    desktop = bool(settings and settings.notify.desktop)
    if not (webhook or desktop) or not ledger.claim_notification(record.run_id):
        return []
    problems = []
    if webhook:
        problems += _post(webhook, payload(record))
    if desktop:
        _desktop(message(record))
    return problems


def _post(url: str, body: dict) -> list[str]:
    if not url.startswith(("https://", "http://")):
        return ["the notify webhook is not an http(s) URL: nothing sent"]
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310 - the user's own webhook
            answer.read(1024)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "code", None) or exc.__class__.__name__
        return [f"the notify webhook did not take the message ({reason})"]
    return []


def _desktop(text: str) -> None:
    """notify-send on Linux, osascript on macOS; silently nothing where neither exists (a server, CI)."""
    if platform.system() == "Darwin" and shutil.which("osascript"):
        command = ["osascript", "-e", f"display notification {json.dumps(text)} with title \"tuneplan\""]
    elif shutil.which("notify-send"):
        command = ["notify-send", "--app-name=tuneplan", "tuneplan", text]
    else:
        return
    try:
        subprocess.run(command, timeout=TIMEOUT_S, check=False, capture_output=True)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _settings() -> Any:
    from planner.errors import BadInput
    from providers.settings import load_settings

    try:
        return load_settings()
    except BadInput:
        return None
