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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from providers.types import ProviderError, TransientProviderError

CHUNK = 1 << 20
USER = "root"
OUTPUT_MAX_BYTES = 16 << 20  # what a control command (status, listing, checksums) may print
STDERR_MAX_BYTES = 64 << 10


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

    def run(self, command: str, stdin: BinaryIO | bytes | None = None, timeout_s: float | None = None,
            max_bytes: int = OUTPUT_MAX_BYTES) -> tuple[int, bytes, bytes]:
        """(exit code, stdout, stderr) of ``command`` in the pod's login shell (cwd: root's home). The pod
        decides how much it prints: more than ``max_bytes`` of stdout is a ``ProviderError``."""
        chunks: list[bytes] = []
        size = 0

        def keep(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > max_bytes:
                raise ProviderError(f"the pod at {self.host}:{self.port} sent more than {max_bytes} bytes for "
                                    f"`{command[:60]}`; not reading more")
            chunks.append(chunk)

        code, err = self._exec(command, stdin, keep, timeout_s)
        return code, b"".join(chunks), err

    def stream(self, command: str, sink: Callable[[bytes], None], timeout_s: float | None = None) -> tuple[int, bytes]:
        """Hand ``command``'s stdout to ``sink`` chunk by chunk as it arrives; (exit code, stderr). ``sink`` may
        raise to stop (a pull past its limits): the channel is closed and the exception goes on."""
        return self._exec(command, None, sink, timeout_s)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- plumbing -------------------------------------------------------------------------------------
    def _exec(self, command: str, stdin, sink, timeout_s: float | None) -> tuple[int, bytes]:
        import paramiko

        channel = None
        try:
            channel = self._transport().open_session()
            channel.settimeout(timeout_s or max(self.timeout_s, 60.0))
            channel.exec_command(command)
            _feed(channel, stdin)
            for chunk in _drain(channel):
                sink(chunk)
            err = b"".join(_bounded(iter(lambda: channel.recv_stderr(CHUNK), b""), STDERR_MAX_BYTES))
            return channel.recv_exit_status(), err
        except paramiko.BadHostKeyException:
            self.close()
            raise ProviderError(f"the pod at {self.host}:{self.port} is not the pod this run made (its SSH host key "
                                "differs from the pinned one); not sending anything to it") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise TransientProviderError(f"SSH to the pod at {self.host}:{self.port} failed ({_why(exc)})") from None
        finally:
            if channel is not None:
                channel.close()

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


def _bounded(chunks: Iterator[bytes], max_bytes: int) -> Iterator[bytes]:
    """At most ``max_bytes`` of ``chunks`` (a pod's stderr is only ever read for its first lines)."""
    size = 0
    for chunk in chunks:
        if size >= max_bytes:
            return
        yield chunk[: max_bytes - size]
        size += len(chunk)


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
