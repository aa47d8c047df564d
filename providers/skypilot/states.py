"""SkyPilot's states, mapped explicitly to ours (CONTRACTS §7).

Three vocabularies meet here: the cluster (``sky.ClusterStatus``), the job on the cluster
(``sky.JobStatus``) and the managed job (``sky.jobs.ManagedJobStatus``). Each is mapped by the enum's
*value* so this module imports no SDK, and a value a newer SkyPilot adds reads as ``unknown`` with the
raw name in the message, never as a crash or a guess.
"""

from __future__ import annotations

from providers.types import RunState

# A cluster that is UP (or autostopping after its job) is asked about its job; the job's state wins.
CLUSTER_STATES = {
    "PENDING": RunState.PROVISIONING,
    "INIT": RunState.PROVISIONING,
    "UP": RunState.RUNNING,
    "AUTOSTOPPING": RunState.RUNNING,
    "STOPPED": RunState.UNKNOWN,  # we always autodown; a stopped cluster was stopped by hand
}

JOB_STATES = {
    "INIT": RunState.PROVISIONING,
    "PENDING": RunState.PROVISIONING,
    "SETTING_UP": RunState.PROVISIONING,
    "RUNNING": RunState.RUNNING,
    "SUCCEEDED": RunState.SUCCEEDED,
    "FAILED": RunState.FAILED,
    "FAILED_SETUP": RunState.FAILED,
    "FAILED_DRIVER": RunState.FAILED,
    "CANCELLED": RunState.CANCELLED,
}

MANAGED_JOB_STATES = {
    "PENDING": RunState.PENDING,
    "SUBMITTED": RunState.PENDING,
    "STARTING": RunState.PROVISIONING,
    "RUNNING": RunState.RUNNING,
    "RECOVERING": RunState.PROVISIONING,  # preempted: SkyPilot is finding a new machine
    "WINDING_DOWN": RunState.RUNNING,
    "CANCELLING": RunState.RUNNING,
    "SUCCEEDED": RunState.SUCCEEDED,
    "CANCELLED": RunState.CANCELLED,
    "FAILED": RunState.FAILED,
    "FAILED_SETUP": RunState.FAILED,
    "FAILED_PRECHECKS": RunState.FAILED,
    "FAILED_NO_RESOURCE": RunState.FAILED,
    "FAILED_CONTROLLER": RunState.FAILED,
}

FAILURE_WORDS = {
    "FAILED_SETUP": "setup failed (installing requirements.txt)",
    "FAILED_DRIVER": "SkyPilot's job driver failed",
    "FAILED_PRECHECKS": "SkyPilot refused the job before starting it",
    "FAILED_NO_RESOURCE": "no machine matching the task was available",
    "FAILED_CONTROLLER": "SkyPilot's jobs controller failed",
}


def state_name(value: object) -> str:
    """``ClusterStatus.UP`` / ``'UP'`` / None → ``'UP'`` / ``''``."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _mapped(table: dict[str, RunState], value: object, what: str) -> tuple[RunState, str]:
    name = state_name(value)
    if name in table:
        return table[name], f"SkyPilot {what}: {name}"
    return RunState.UNKNOWN, f"SkyPilot {what} state {name or 'missing'!r} is not one tuneplan knows"


def cluster_state(value: object) -> tuple[RunState, str]:
    return _mapped(CLUSTER_STATES, value, "cluster")


def job_state(value: object) -> tuple[RunState, str]:
    return _mapped(JOB_STATES, value, "job")


def managed_job_state(value: object) -> tuple[RunState, str]:
    return _mapped(MANAGED_JOB_STATES, value, "managed job")


def failure_words(value: object) -> str | None:
    return FAILURE_WORDS.get(state_name(value))
