"""Reading a SkyPilot run's end from what it printed, and our tags from a managed job.

The run script (``task_config``) marks the hard runtime limit (``TUNEPLAN_LIMIT``) and a SIGKILL before it
(``TUNEPLAN_KILLED``, usually the out-of-memory killer), so a status can tell "budget" from "crashed".
"""

from __future__ import annotations

import json

from providers.protocol import last_messages, parse_line
from providers.skypilot import states as st
from providers.skypilot.task_config import KILLED_MARKER, LIMIT_MARKER
from providers.types import RunHandle, RunState, RunStatus


def with_log(state: RunState, message: str, lines: list[str], raw_state, started, ended) -> RunStatus:
    """Progress from the log; a run the runtime limit ended is ``budget_stopped``; errors from DONE.

    Only the run script's ``TUNEPLAN_LIMIT`` line means the limit (exit 124, or 137 past the deadline);
    a SIGKILL before it (exit 137, ``TUNEPLAN_KILLED``: usually out of memory) is a plain failure."""
    progress, done = last_messages(lines)
    limited = any(parse_line(line) is None and line.startswith(LIMIT_MARKER + " ") for line in lines)
    killed = any(line.startswith(KILLED_MARKER + " ") for line in lines)
    error = None
    if state == RunState.FAILED:
        if limited:
            limit = limit_s(lines)
            state, error = RunState.BUDGET_STOPPED, f"hard runtime limit of {limit} s reached (timeout on the machine)"
        elif killed:
            error = ("the job was killed by SIGKILL (exit 137) before its runtime limit, most often by the "
                     "out-of-memory killer: choose a GPU/machine with more memory or lower micro_batch_size")
        else:
            error = (done or {}).get("error") or st.failure_words(raw_state) or message
    elif state == RunState.CANCELLED:
        error = message
    return RunStatus(state, error or message, True, progress, None, error, started, ended)


def limit_s(lines: list[str]) -> str:
    for line in reversed(lines):
        if line.startswith(LIMIT_MARKER + " "):
            try:
                return str(json.loads(line.partition(" ")[2]).get("limit_s"))
            except ValueError:
                break
    return "?"


def job_tags(job) -> dict[str, str]:
    """A managed job's tags: its labels, or, while it has no machine (labels None), the labels its own task
    YAML declares (``user_yaml``: the task as submitted, secret values redacted by SkyPilot)."""
    if job.get("labels"):
        return dict(job.get("labels"))
    import yaml

    try:
        documents = list(yaml.safe_load_all(job.get("user_yaml") or ""))
    except yaml.YAMLError:
        return {}
    for document in documents:
        resources = document.get("resources") if isinstance(document, dict) else None
        labels = resources.get("labels") if isinstance(resources, dict) else None
        if isinstance(labels, dict):
            return {str(k): str(v) for k, v in labels.items()}
    return {}


def managed_handle(handle: RunHandle) -> bool:
    """A spot run (a managed job) rather than a cluster."""
    return handle.data.get("mode") == "managed"
