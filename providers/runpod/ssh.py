"""The one way files reach and leave a pod: SSH to the pod's public TCP port (RunPod maps its port 22), with
keys made for this run only.

Per run we make two ed25519 key pairs: the client key (its public half goes to the pod as ``PUBLIC_KEY``,
its private half stays in a 0600 file on this machine) and the pod's host key (its private half goes to the
pod in the create request, its public half is pinned here). So the first connection already knows whom it
talks to: no trust-on-first-use, no ``~/.ssh/known_hosts`` edits, nothing of the user's SSH setup used.

Only the exec channel is used (no SFTP subsystem): a file goes up as stdin of ``cat``, outputs come down as a
tar stream on stdout, and both ends' sha256 are compared. paramiko (a dependency of the runpod SDK) is the
client, so nothing needs OpenSSH on this machine.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from providers.types import ProviderError, TransientProviderError

CHUNK = 1 << 20
USER = "root"


def new_key_pair() -> tuple[bytes, str]:
    """(private key in OpenSSH PEM form, public key as an ``ssh-ed25519 AAAA… comment`` line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode() + " tuneplan"


class PodShell:
    """One SSH connection to a pod, opened on first use and reopened after a failure."""

    def __init__(self, host: str, port: int, key_file: Path, host_key: str, timeout_s: float = 20.0) -> None:
        self.host, self.port, self.key_file, self.host_key, self.timeout_s = host, port, key_file, host_key, timeout_s
        self._client = None

    def run(self, command: str, stdin: BinaryIO | bytes | None = None, timeout_s: float | None = None
            ) -> tuple[int, bytes, bytes]:
        """(exit code, stdout, stderr) of ``command`` in the pod's login shell (cwd: root's home)."""
        chunks: list[bytes] = []
        code, err = self._exec(command, stdin, chunks.append, timeout_s)
        return code, b"".join(chunks), err

    def run_to_file(self, command: str, path: Path, timeout_s: float | None = None) -> tuple[int, bytes]:
        """Stream ``command``'s stdout into ``path``; (exit code, stderr)."""
        with path.open("wb") as out:
            return self._exec(command, None, out.write, timeout_s)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- plumbing -------------------------------------------------------------------------------------
    def _exec(self, command: str, stdin, sink, timeout_s: float | None) -> tuple[int, bytes]:
        import paramiko

        try:
            channel = self._transport().open_session()
            channel.settimeout(timeout_s or max(self.timeout_s, 60.0))
            channel.exec_command(command)
            _feed(channel, stdin)
            for chunk in _drain(channel):
                sink(chunk)
            err = b"".join(iter(lambda: channel.recv_stderr(CHUNK), b""))
            return channel.recv_exit_status(), err
        except paramiko.BadHostKeyException:
            self.close()
            raise ProviderError(f"the pod at {self.host}:{self.port} is not the pod this run made (its SSH host key "
                                "differs from the pinned one); not sending anything to it") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise TransientProviderError(f"SSH to the pod at {self.host}:{self.port} failed ({_why(exc)})") from None

    def _transport(self):
        if self._client is None or not self._client.get_transport() or not self._client.get_transport().is_active():
            self._client = self._connect()
        return self._client.get_transport()

    def _connect(self):
        import paramiko

        client = paramiko.SSHClient()
        kind, blob = self.host_key.split()[:2]
        pinned = paramiko.Ed25519Key(data=base64.b64decode(blob))
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        client.get_host_keys().add(name, kind, pinned)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.host, self.port, username=USER, key_filename=str(self.key_file), timeout=self.timeout_s,
                       banner_timeout=self.timeout_s, auth_timeout=self.timeout_s, allow_agent=False,
                       look_for_keys=False)
        return client


def _feed(channel, stdin) -> None:
    if stdin is None:
        channel.shutdown_write()
        return
    if isinstance(stdin, bytes):
        channel.sendall(stdin)
    else:
        for chunk in iter(lambda: stdin.read(CHUNK), b""):
            channel.sendall(chunk)
    channel.shutdown_write()


def _drain(channel) -> Iterator[bytes]:
    while True:
        chunk = channel.recv(CHUNK)
        if not chunk:
            return
        yield chunk


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
