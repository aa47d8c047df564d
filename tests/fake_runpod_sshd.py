"""A stand-in for OpenSSH's ``sshd`` on a fake RunPod pod (``tests/fake_runpod.py`` puts it on the pod's PATH
as ``sshd``): the pod's real boot script starts it with the real config file it writes, and it serves the
real SSH protocol (paramiko's server side) on 127.0.0.1.

It honours what matters of that config: ``HostKey`` (the host key the provider pins), ``AuthorizedKeysFile``
(only the run's client key gets in), ``PidFile``. Each exec request runs in ``bash -c`` in the login's home,
with a login-like environment (HOME, PATH, LANG: a real sshd session does not see the container's env
either). Instead of port 22 it listens on a free port and writes it to ``sshd.port`` beside the config, which
the fake API reports as the pod's public port, as RunPod maps port 22 to a public one.

    fake_runpod_sshd.py -f /path/to/sshd_config
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import paramiko

CHUNK = 65536


def read_config(path: Path) -> dict[str, str]:
    settings = {}
    for line in path.read_text().splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#"):
            settings[key] = value.strip()
    return settings


def authorized(path: Path) -> set[str]:
    try:
        return {line.split()[1] for line in path.read_text().splitlines() if len(line.split()) >= 2}
    except OSError:
        return set()


class Server(paramiko.ServerInterface):
    def __init__(self, keys_file: Path) -> None:
        self.keys_file = keys_file

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = key.get_base64() in authorized(self.keys_file)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=run_command, args=(channel, command.decode()), daemon=True).start()
        return True


def session_env() -> dict[str, str]:
    keep = ("HOME", "PATH", "LANG", "FAKE_RUNPOD_POD")
    return {k: os.environ[k] for k in keep if k in os.environ}


def run_command(channel, command: str) -> None:
    proc = subprocess.Popen(["bash", "-c", command], cwd=os.environ.get("HOME", "/"), env=session_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed() -> None:
        try:
            for chunk in iter(lambda: channel.recv(CHUNK), b""):
                proc.stdin.write(chunk)
        except (OSError, EOFError):
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def errors() -> None:
        for chunk in iter(lambda: proc.stderr.read1(CHUNK), b""):
            channel.sendall_stderr(chunk)

    helpers = [threading.Thread(target=feed, daemon=True), threading.Thread(target=errors, daemon=True)]
    for helper in helpers:
        helper.start()
    try:
        for chunk in iter(lambda: proc.stdout.read1(CHUNK), b""):
            channel.sendall(chunk)
        code = proc.wait()
        helpers[1].join(5)
        helpers[0].join(30)  # the client's EOF comes after it saw the exec reply: only then may the channel close
        channel.send_exit_status(code)
    except (OSError, EOFError, paramiko.SSHException):
        proc.kill()
    finally:
        channel.close()


def serve_connection(conn: socket.socket, host_key, keys_file: Path) -> None:
    transport = paramiko.Transport(conn)
    transport.add_server_key(host_key)
    try:
        transport.start_server(server=Server(keys_file))
    except (paramiko.SSHException, EOFError, OSError):
        return
    channels = []  # paramiko closes a channel that is garbage-collected: hold each one until it closes
    while transport.is_active():
        channel = transport.accept(1.0)
        channels = [c for c in channels if not c.closed] + ([channel] if channel is not None else [])


def main(argv: list[str]) -> int:
    config_path = Path(argv[argv.index("-f") + 1])
    settings = read_config(config_path)
    host_key = paramiko.Ed25519Key(filename=settings["HostKey"])
    keys_file = Path(settings.get("AuthorizedKeysFile") or Path.home() / ".ssh" / "authorized_keys")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    if settings.get("PidFile"):
        Path(settings["PidFile"]).write_text(str(os.getpid()))
    port_file = config_path.with_name("sshd.port")
    port_file.with_suffix(".tmp").write_text(str(listener.getsockname()[1]))
    os.replace(port_file.with_suffix(".tmp"), port_file)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn, host_key, keys_file), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
