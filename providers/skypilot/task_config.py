"""The SkyPilot task for one run, as the plain dict a task YAML holds, and the YAML text of it.

What it says: the bundle directory is the ``workdir``; ``setup`` installs the template's requirements;
``run`` starts the template. Both run under ``timeout`` against one absolute deadline (``TUNEPLAN_DEADLINE``,
epoch seconds = launch time + the hard runtime limit of CONTRACTS §7), so the limit holds across setup,
and across a managed job's recoveries (each recovery reruns setup and run with the same envs): a step
that starts past the deadline exits at once. Exit 124 from ``timeout`` (or 137, its SIGKILL after the
grace period, once the deadline has passed) prints one ``TUNEPLAN_LIMIT`` line; a 137 before the deadline
is some other SIGKILL (most often the kernel's out-of-memory killer) and prints ``TUNEPLAN_KILLED``. A task
file written for a launch by hand has an empty deadline: the first step then fixes it at its own start
(kept in a file on the machine) unless ``sky launch --env TUNEPLAN_DEADLINE=...`` sets it. The
resources name every acceptable GPU, spot or not, the disk, a price cap, labels with our tags, and
autostop with ``down`` so an abandoned cluster deletes itself. A spot run is a managed job whose output
folder lives in a bucket, so a replacement machine resumes from the last checkpoint there.

Secrets appear by **name** only (``secrets: {HF_TOKEN: null}``): values are added in memory at launch
(``sky.Task.from_yaml_config(..., secrets_overrides=...)``) and never reach a file, a log or an error.
Pure: no SDK import, no I/O.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal

import yaml

from providers.skypilot.accelerators import acceptable_resources
from providers.types import Bundle, LaunchPlan

LIMIT_MARKER = "TUNEPLAN_LIMIT"
KILLED_MARKER = "TUNEPLAN_KILLED"
DEADLINE_ENV = "TUNEPLAN_DEADLINE"
BUCKET_MOUNT = "/tuneplan-outputs"
KILL_AFTER_S = 60  # SIGTERM first (the templates checkpoint on it), SIGKILL this long after
DEFAULT_CLOUDS = ("aws", "gcp", "azure", "lambda", "runpod")
_LABEL_UNSAFE = re.compile(r"[^a-z0-9_-]")
PRICE_TOLERANCE = Decimal("1.10")  # how much dearer than the priced rate SkyPilot's choice may be


@dataclass(frozen=True)
class TaskOptions:
    """What the user's settings add to a bundle and a plan."""

    clouds: tuple[str, ...] = DEFAULT_CLOUDS
    disk_gib: int = 100
    image: str | None = None
    idle_minutes: int = 15
    bucket: str | None = None
    python: str = "python3"
    gpu_choices: tuple[str, ...] = ()
    max_usd_per_hour: Decimal | None = None
    controller_usd_per_hour: Decimal | None = None


def is_managed(plan: LaunchPlan) -> bool:
    """Spot runs go through SkyPilot's managed jobs, which recover from preemptions."""
    return plan.spot


def task_config(bundle: Bundle, plan: LaunchPlan, options: TaskOptions = TaskOptions(),
                deadline: int | None = None) -> dict:
    """The task YAML of this run, as a dict (``sky.Task.from_yaml_config`` accepts it).

    ``deadline`` (epoch seconds) is the launch time + the runtime limit; None for a file launched by hand.
    """
    config: dict = {
        "name": plan.resource_name,
        "workdir": str(bundle.root),
        "resources": _resources(plan, options),
        "envs": {"TUNEPLAN_RUN_ID": plan.run_id, "PYTHONUNBUFFERED": "1",
                 DEADLINE_ENV: "" if deadline is None else str(int(deadline))},
        "setup": _setup(plan, options),
        "run": _run(bundle, plan, options),
    }
    if bundle.nodes > 1:  # every node runs setup, then run; torchrun meets at the head node (SKYPILOT_NODE_IPS)
        config["num_nodes"] = bundle.nodes
    secrets = sorted(set(plan.secrets) | set(bundle.secrets))
    if secrets:
        config["secrets"] = {name: None for name in secrets}
    if is_managed(plan):
        if not options.bucket:
            raise ValueError("a spot run needs a bucket for its outputs and checkpoints")
        # MOUNT_CACHED: writes land on local disk and are uploaded in the background, the mode SkyPilot's storage
        # guide recommends for checkpoints (plain MOUNT streams every write to the bucket and does not suit
        # the write-then-rename of a checkpoint).
        config["file_mounts"] = {BUCKET_MOUNT: {"source": options.bucket.rstrip("/"), "mode": "MOUNT_CACHED"}}
    return config


class _TaskDumper(yaml.SafeDumper):
    """Multi-line commands as ``|`` blocks, so the YAML reads like one a person wrote."""


def _str(dumper: yaml.SafeDumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_TaskDumper.add_representer(str, _str)


def render_yaml(config: dict) -> str:
    """The YAML text (keys in the order written above); holds secret names, never values."""
    return yaml.dump(config, Dumper=_TaskDumper, sort_keys=False, default_flow_style=False, width=120)


def remote_output_dir(bundle_output_dir: str) -> str:
    """Where the template's output lives on the cluster (SkyPilot syncs the workdir to ~/sky_workdir)."""
    return f"~/sky_workdir/{bundle_output_dir}"


def bucket_prefix(bucket: str, plan_or_name: LaunchPlan | str) -> str:
    name = plan_or_name if isinstance(plan_or_name, str) else plan_or_name.resource_name
    return f"{bucket.rstrip('/')}/{name}"


def _resources(plan: LaunchPlan, options: TaskOptions) -> dict:
    resources: dict = {"use_spot": bool(plan.spot), "disk_size": options.disk_gib}
    if plan.gpu not in ("", "cpu") and plan.gpus > 0:
        wanted = [plan.gpu, *plan.gpu_choices, *options.gpu_choices]
        resources.update(acceptable_resources(wanted, plan.gpus, options.clouds))
    else:
        resources["cpus"] = "2+"
    priced = plan.usd_per_hour / max(plan.nodes, 1)  # SkyPilot caps the hourly cost of one node's resources
    cap = options.max_usd_per_hour or (priced * PRICE_TOLERANCE if plan.usd_per_hour else None)
    if cap:  # the optimizer may not pick an offer dearer than the one the plan was priced at (10 % leeway)
        resources["max_hourly_cost"] = float(Decimal(cap).quantize(Decimal("0.01"), rounding=ROUND_UP))
    if plan.image:  # the spec's prebuilt image (a container image) wins over the settings' image id
        resources["image_id"] = plan.image if plan.image.startswith("docker:") else f"docker:{plan.image}"
    elif options.image:
        resources["image_id"] = options.image
    if not is_managed(plan):
        resources["autostop"] = {"idle_minutes": options.idle_minutes, "down": True}
    resources["labels"] = {key: label_value(value) for key, value in plan.tags.items()}
    return resources


def label_value(value: str) -> str:
    """A label value every cloud SkyPilot validates for accepts: GCP allows ``[a-z0-9_-]{0,63}``, Kubernetes
    wants an alphanumeric first and last character (``sky/clouds/gcp.py`` and ``sky/clouds/kubernetes.py``
    check every enabled cloud's rule at launch), so ``John.Doe`` becomes ``john-doe``."""
    cleaned = _LABEL_UNSAFE.sub("-", str(value).lower())[:63].strip("-_")
    return cleaned or "x"


def _deadline(plan: LaunchPlan) -> list[str]:
    """Shell lines: ``$TUNEPLAN_DEADLINE`` fixed (the launch's, else the first step's start + the limit),
    ``$left`` the seconds until it, and an immediate limit exit when it has passed."""
    limit = int(plan.max_runtime_s)
    keep = f"~/.tuneplan-deadline-{plan.run_id}"
    return [f'if [ -z "${{{DEADLINE_ENV}:-}}" ]; then',
            f"  [ -s {keep} ] || echo $(( $(date +%s) + {limit} )) > {keep}",
            f"  {DEADLINE_ENV}=$(cat {keep})",
            "fi",
            f"left=$(( {DEADLINE_ENV} - $(date +%s) ))",
            f"if [ $left -le 0 ]; then echo '{_limit_line(plan)}'; exit 124; fi"]


def _limit_line(plan: LaunchPlan) -> str:
    return f'{LIMIT_MARKER} {{"limit_s": {int(plan.max_runtime_s)}}}'


def _timed(command: str, plan: LaunchPlan, indent: str = "") -> list[str]:
    """``command`` under ``timeout`` until the deadline; the exit code read as limit / SIGKILL / itself."""
    reached = f'[ "$(date +%s)" -ge "${DEADLINE_ENV}" ]'
    return [f"{indent}timeout --signal=TERM --kill-after={KILL_AFTER_S} $left {command}",
            f"{indent}code=$?",
            f"{indent}if [ $code -eq 124 ] || {{ [ $code -eq 137 ] && {reached}; }}; then",
            f"{indent}  echo '{_limit_line(plan)}'",
            f"{indent}elif [ $code -eq 137 ]; then",
            f"{indent}  echo '{KILLED_MARKER} {{\"code\": 137}}'",
            f"{indent}fi"]


def _setup(plan: LaunchPlan, options: TaskOptions) -> str:
    """Install requirements.txt when it names any package (the smoke template needs none), within the limit."""
    python = shlex.quote(options.python)
    lines = [*_deadline(plan),
             "if grep -qvE '^[[:space:]]*(#|$)' requirements.txt; then",
             *_timed(f"{python} -m pip install --quiet -r requirements.txt", plan, "  "),
             "  if [ $code -ne 0 ]; then exit $code; fi",
             "fi"]
    return "\n".join(lines) + "\n"


NODE_FACTS = {  # what SkyPilot tells every node (0.14: SKYPILOT_NODE_RANK; SKYPILOT_NODE_IPS, head first)
    "__TP_NODE_RANK__": "$TUNEPLAN_NODE_RANK", "__TP_MASTER_ADDR__": "$TUNEPLAN_MASTER_ADDR"}


def job_command(bundle: Bundle, python: str) -> tuple[list[str], str]:
    """(shell lines that fix this node's facts, the command): the bundle's torchrun launcher filled from
    SkyPilot's variables, every other part quoted."""
    command = bundle.command(python, bundle.entrypoint, node_rank="__TP_NODE_RANK__", master_addr="__TP_MASTER_ADDR__")
    text = " ".join(shlex.quote(part) for part in command)
    for mark, variable in NODE_FACTS.items():
        text = text.replace(mark, f'"{variable}"')
    if bundle.nodes == 1:
        return [], text
    return [f"# torchrun on each of the {bundle.nodes} nodes: this node's rank, and the head node's address (rank 0)",
            'TUNEPLAN_NODE_RANK="${SKYPILOT_NODE_RANK:-0}"',
            'TUNEPLAN_MASTER_ADDR="$(printf \'%s\\n\' "${SKYPILOT_NODE_IPS:-127.0.0.1}" | head -n1)"'], text


def _run(bundle: Bundle, plan: LaunchPlan, options: TaskOptions) -> str:
    facts, command = job_command(bundle, options.python)
    out = shlex.quote(bundle.output_dir)
    lines = [*_deadline(plan), *facts]
    if is_managed(plan):
        shared = f"{BUCKET_MOUNT}/{plan.resource_name}"
        lines += [f"mkdir -p {shared}", f"rm -rf {out} && ln -sfn {shared} {out}"]
    lines += [*_timed(command, plan), "exit $code"]
    return "\n".join(lines) + "\n"


def options_for_bundle(options: TaskOptions, bundle: Bundle) -> TaskOptions:
    """The settings plus what the job itself asks (acceptable GPUs, the hourly cap) from job.json."""
    import json
    from dataclasses import replace

    try:
        resources = json.loads((bundle.root / "job.json").read_text(encoding="utf-8")).get("resources") or {}
    except (OSError, ValueError, AttributeError):
        resources = {}
    wanted = resources.get("gpu")
    choices = tuple(wanted) if isinstance(wanted, list) else ((wanted,) if wanted not in (None, "auto") else ())
    cap = resources.get("max_usd_per_hour")
    return replace(options, gpu_choices=choices or options.gpu_choices,
                   max_usd_per_hour=Decimal(str(cap)) if cap else options.max_usd_per_hour)


def hand_launch_hint(path, plan: LaunchPlan, idle_minutes: int) -> str:
    """How to launch a written task file by hand (secrets come from your environment, by name; the runtime
    limit counts from the launch)."""
    import shlex

    q = shlex.quote
    secrets = "".join(f" --secret {q(name)}" for name in plan.secrets)
    secrets += f' --env "{DEADLINE_ENV}=$(( $(date +%s) + {int(plan.max_runtime_s)} ))"'  # expanded when pasted
    if is_managed(plan):
        return f"launch it by hand: sky jobs launch -n {q(plan.resource_name)}{secrets} {q(str(path))}"
    return f"launch it by hand: sky launch -c {q(plan.resource_name)} --down -i {int(idle_minutes)}{secrets} {q(str(path))}"
