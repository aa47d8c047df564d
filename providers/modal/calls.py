"""What a Modal function call says about itself, in our words: polling ``FunctionCall.get(timeout=0)``.

The SDK answers with a value (the segment's outcome dict), or with exceptions: the builtin ``TimeoutError``
while the call is still going, ``FunctionTimeoutError`` when Modal's timeout ended it, ``OutputExpiredError``
when the result is gone (Modal keeps results for a limited time), ``RemoteError`` for a failure or a
cancellation Modal reports, or the exception the function itself raised. Connection trouble is retryable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from providers.types import ProviderError, TransientProviderError

INSTALL_HINT = "the Modal launcher needs the modal extra: pip install 'tuneplan[modal]'"
LOGIN_HINT = "run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)"


@dataclass(frozen=True)
class Outcome:
    """One call's state: running, succeeded, failed, stopped (its segment time was up), cancelled, expired."""

    kind: str
    error: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    ended_at: float | None = None


def sdk():
    try:
        import modal
    except ImportError:
        raise ProviderError(INSTALL_HINT) from None
    return modal


@contextmanager
def sdk_errors(doing: str) -> Iterator[None]:
    """Modal's exceptions as ours: auth problems say how to log in, connection trouble is retryable."""
    import modal.exception as mx

    try:
        yield
    except mx.AuthError:
        raise ProviderError(f"Modal refused the credentials while {doing}: {LOGIN_HINT}") from None
    except (mx.ConnectionError, mx.InternalError, mx.ServiceError, mx.ResourceExhaustedError, ConnectionError) as exc:
        raise TransientProviderError(f"Modal did not answer while {doing} ({type(exc).__name__}); retrying") from None


def poll(call_id: str) -> Outcome:
    """The call's outcome now, without waiting."""
    modal = sdk()
    import modal.exception as mx

    try:
        result = modal.FunctionCall.from_id(call_id).get(timeout=0)
    except TimeoutError:
        return Outcome("running")
    except mx.FunctionTimeoutError:
        return Outcome("stopped", "Modal's function timeout ended the segment")
    except mx.OutputExpiredError:
        return Outcome("expired", "Modal no longer keeps this call's result")
    except mx.NotFoundError:
        return Outcome("expired", f"Modal does not know the call {call_id}")
    except mx.InputCancellation:
        return Outcome("cancelled", "cancelled")
    except mx.RemoteError as exc:
        message = " ".join(str(exc).split())[:300] or "remote error"
        return Outcome("cancelled" if "cancel" in message.lower() else "failed", message)
    except (mx.AuthError, mx.ConnectionError, mx.InternalError, mx.ServiceError, mx.ResourceExhaustedError):
        raise
    except _transient_errors() as exc:  # the connection, not the run: ask again later, never "failed"
        raise TransientProviderError(f"the connection to Modal dropped while asking about call {call_id} "
                                     f"({type(exc).__name__}); asking again") from None
    except Exception as exc:  # noqa: BLE001 - the function's own exception, raised again here by the SDK
        return Outcome("failed", " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
    return from_result(result)


def _transient_errors() -> tuple[type[BaseException], ...]:
    """What a poll can raise that says nothing about the run: grpclib's stream and status errors (Modal's own
    gRPC errors derive from ``grpclib.GRPCError``), a closed client, Modal's RPC timeout and socket errors. Only
    the outcomes ``poll`` maps above (a value, the function timeout, a cancellation, an expired or unknown
    call, a remote error) end a run."""
    import grpclib.exceptions
    import modal.exception as mx

    return (grpclib.exceptions.StreamTerminatedError, grpclib.GRPCError, mx.ClientClosed, mx.TimeoutError,
            ConnectionError, OSError)


def from_result(result: object) -> Outcome:
    """The segment dict ``remote_job.run_segment`` returns, as an Outcome."""
    if not isinstance(result, dict):
        return Outcome("failed", f"unexpected result from the function: {type(result).__name__}")
    kind = result.get("state") if result.get("state") in ("succeeded", "failed", "stopped") else "failed"
    return Outcome(kind, result.get("error"), result.get("exit_code"), result.get("started_at"), result.get("ended_at"))


def cancel(call_id: str | None) -> None:
    """Cancel a call and end its container; a call that is gone or finished is not an error."""
    if not call_id:
        return
    modal = sdk()
    import modal.exception as mx

    try:
        modal.FunctionCall.from_id(call_id).cancel(terminate_containers=True)
    except (mx.NotFoundError, mx.InvalidError, mx.RemoteError):
        pass
