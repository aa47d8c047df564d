"""Every ``TUNEPLAN_*`` environment variable: what it does (``tuneplan settings env`` prints this list), and a
warning for a name tuneplan does not know, with the closest one (a misspelt ``TUNEPLAN_LEDGR`` would otherwise be
ignored without a word and the run recorded in the wrong ledger).

Settings are also variables: ``TUNEPLAN_<SECTION>__<KEY>`` (``TUNEPLAN_ELECTRICITY__KWH_USD=0.25``) for any key of
``settings.yaml``; those are checked against the settings' own fields.
"""

from __future__ import annotations

import os

# name -> what it does. "(remote)" ones are set by tuneplan for the job on the machine that trains.
VARIABLES: dict[str, str] = {
    "TUNEPLAN_LEDGER_URL": "the ledger: sqlite:///path or postgresql://user@host/db (wins over settings.yaml)",
    "TUNEPLAN_LEDGER": "the ledger as a SQLite file path (kept for compatibility; TUNEPLAN_LEDGER_URL wins)",
    "TUNEPLAN_LEDGER_RETRY_S": "how long a write to a team ledger keeps retrying while its server is away (default 60)",
    "TUNEPLAN_LEDGER_STATEMENT_TIMEOUT_S": "the longest one statement may wait on a team ledger (default 30)",
    "TUNEPLAN_CONFIG_DIR": "where settings.yaml is read from (default: the user config folder)",
    "TUNEPLAN_DATA_DIR": "where the ledger, runs and caches live (default: the user data folder)",
    "TUNEPLAN_CACHE_DIR": "where downloaded model configs and prices are cached",
    "TUNEPLAN_RUNS_DIR": "where runs' folders (bundles, logs, pulled outputs) go (default: <data dir>/runs)",
    "TUNEPLAN_HOST_ID": "this machine's id on the resources it launches (default: a stable id kept in the data dir)",
    "TUNEPLAN_NOW": "the clock, as an ISO time (reports' 'this month', tests and demos)",
    "TUNEPLAN_FAILPOINT": "stop the CLI at a named point (fault-injection tests)",
    "TUNEPLAN_NOTIFY__WEBHOOK_URL": "the webhook that hears when a run ends (a settings key; a secret)",
    # set by tuneplan for the job on the training machine, never by hand:
    "TUNEPLAN_RUN_ID": "(remote) the run the job belongs to",
    "TUNEPLAN_DEADLINE": "(remote) the job's hard runtime limit, as a Unix time",
    "TUNEPLAN_NODE_RANK": "(remote) this machine's rank in a multi-node run",
    "TUNEPLAN_MASTER_ADDR": "(remote) the address of rank 0 in a multi-node run",
    "TUNEPLAN_OWNER": "(remote) the owner tag of a RunPod pod",
    "TUNEPLAN_HOST": "(remote) the host tag of a RunPod pod",
    "TUNEPLAN_RUN": "(remote) the run tag of a RunPod pod",
    "TUNEPLAN_CONTAINER_ROOT": "(remote) where a Modal or RunPod container keeps the job",
}
REMOTE_PREFIXES = ("TUNEPLAN_POD_",)  # the RunPod pod agent's own variables (remote)


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """One warning per ``TUNEPLAN_*`` name that is neither a variable above nor a settings key."""
    from planner.suggest import did_you_mean

    environ = os.environ if environ is None else environ
    out = []
    for name in sorted(environ):
        if not name.startswith("TUNEPLAN_") or name in VARIABLES or name.startswith(REMOTE_PREFIXES):
            continue
        if "__" in name and _is_setting(name):
            continue
        known = setting_names() if "__" in name else list(VARIABLES)
        out.append(f"{name} is not a tuneplan variable and is ignored{did_you_mean(name, known)} "
                   "(tuneplan settings env lists them)")
    return out


def setting_names() -> list[str]:
    """``TUNEPLAN_SECTION__KEY`` for every key of every settings section."""
    from providers.settings import Settings

    out = []
    for section, info in Settings.model_fields.items():
        keys = getattr(info.annotation, "model_fields", None)
        out += [f"TUNEPLAN_{section}__{key}".upper() for key in keys] if keys else [f"TUNEPLAN_{section}".upper()]
    return out


def _is_setting(name: str) -> bool:
    """``TUNEPLAN_SECTION__KEY`` naming a real settings field (nested keys are checked one level down)."""
    from providers.settings import Settings

    parts = name.removeprefix("TUNEPLAN_").lower().split("__")
    fields = Settings.model_fields
    if parts[0] not in fields:
        return False
    if len(parts) == 1:
        return True
    section = fields[parts[0]].annotation
    return hasattr(section, "model_fields") and parts[1] in section.model_fields
