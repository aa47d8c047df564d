"""What a pod is created with: the start command, and the env that carries everything the pod needs.

The start command is fixed text (``dockerArgs``); every run-specific value travels in env vars, sent as
GraphQL variables, so no value is ever pasted into a command line or a query. The boot script, run by
bash as the container's main process:

1. installs this run's client public key (``PUBLIC_KEY``, RunPod's own convention) and host key;
2. starts OpenSSH's sshd on port 22 with a config of its own (keys only, no passwords), installing
   openssh-server first when the image lacks it;
3. writes the agent (``pod_agent.py``, carried base64 in ``TUNEPLAN_POD_AGENT``) and ``exec``s it, so the agent is
   the process the container lives and dies with.

Everything lives under ``$HOME/tuneplan`` (root's home on the container disk), which is also where an SSH
session starts, so tuneplan's remote commands use relative paths only.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from providers.types import Bundle, LaunchPlan

AGENT = Path(__file__).with_name("pod_agent.py")
REMOTE_DIR = "tuneplan"
OWN_PREFIX = "TUNEPLAN_POD_"  # the agent drops these from the job's env

BOOT_SCRIPT = r"""set -u
D="$HOME/tuneplan"
mkdir -p "$D" "$HOME/.ssh"
chmod 700 "$HOME/.ssh"
umask 077
printf '%s\n' "$PUBLIC_KEY" >> "$HOME/.ssh/authorized_keys"
printf '%s' "$TUNEPLAN_POD_HOST_KEY" | base64 -d > "$D/ssh_host_ed25519_key"
cat > "$D/sshd_config" <<EOF
Port 22
HostKey $D/ssh_host_ed25519_key
AuthorizedKeysFile $HOME/.ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PidFile $D/sshd.pid
EOF
SSHD="$(command -v sshd || echo /usr/sbin/sshd)"
if [ ! -x "$SSHD" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server) > "$D/apt.log" 2>&1
  SSHD=/usr/sbin/sshd
fi
mkdir -p /run/sshd 2>/dev/null || true
"$SSHD" -f "$D/sshd_config" > "$D/sshd.log" 2>&1
printf '%s' "$TUNEPLAN_POD_AGENT" | base64 -d > "$D/pod_agent.py"
unset TUNEPLAN_POD_HOST_KEY TUNEPLAN_POD_AGENT
PY="$(command -v python3 || command -v python)"
exec "$PY" "$D/pod_agent.py" --dir "$D"
"""


def docker_args() -> str:
    """The container's start command: decode the boot script from env and run it (fixed text, no values)."""
    return "bash -c 'eval \"$(printf %s \"$TUNEPLAN_POD_BOOT\" | base64 -d)\"'"


def pod_env(bundle: Bundle, plan: LaunchPlan, client_public_key: str, host_private_key: bytes, api_url: str,
            pull_window_s: int, boot_timeout_s: int, secrets: dict[str, str], tags_env: dict[str, str]
            ) -> dict[str, str]:
    """Every env var of the pod: the boot and agent settings, our tags, and the named secrets' values."""
    env = {
        "TUNEPLAN_POD_BOOT": _b64(BOOT_SCRIPT.encode()),
        "TUNEPLAN_POD_AGENT": _b64(AGENT.read_bytes()),
        "TUNEPLAN_POD_HOST_KEY": _b64(host_private_key),
        "PUBLIC_KEY": client_public_key,
        "TUNEPLAN_POD_RUN_ID": plan.run_id,
        "TUNEPLAN_POD_SHA256": bundle.sha256,
        "TUNEPLAN_POD_ENTRYPOINT": bundle.entrypoint,
        "TUNEPLAN_POD_ARGS": json.dumps(list(bundle.args)),
        "TUNEPLAN_POD_LAUNCHER": json.dumps(list(bundle.launcher)),  # torchrun's arguments, one pod (no facts to fill)
        "TUNEPLAN_POD_MAX_RUNTIME_S": str(int(plan.max_runtime_s)),
        "TUNEPLAN_POD_PULL_WINDOW_S": str(int(pull_window_s)),
        "TUNEPLAN_POD_BOOT_TIMEOUT_S": str(int(boot_timeout_s)),
        "TUNEPLAN_POD_API_URL": api_url,
        **tags_env,
    }
    clashes = sorted(name for name in secrets if name in env or name.startswith(OWN_PREFIX) or name == "RUNPOD_API_KEY")
    if clashes:
        from providers.types import ProviderError

        raise ProviderError(f"secret name {clashes[0]} is reserved on RunPod pods (tuneplan's own or RunPod's); "
                            "rename the secret")
    return {**env, **secrets}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
