"""Launching from the TUI: the job spec with the Plan form's values and the chosen option laid over it,
and a clock that lets the app stop watching (on exit) without stopping the run.

The steps themselves are ``remote_jobs.launch`` and ``remote_jobs.watch``, exactly as ``tuneplan launch``
runs them; these functions only decide their inputs.
"""

from __future__ import annotations

from typing import Any

from remote_jobs.watch import Detached

WATCH_TICK_S = 0.1

class CancellableClock:
    """The context's clock, whose ``sleep`` gives up when the worker running it is cancelled."""

    def __init__(self, inner: Any, cancelled) -> None:
        self._inner = inner
        self._cancelled = cancelled

    def now(self):
        return self._inner.now()

    def sleep(self, seconds: float) -> None:
        remaining = seconds
        while remaining > 0:
            if self._cancelled():
                raise Detached("stopped watching; the run continues")
            step = min(WATCH_TICK_S, remaining)
            self._inner.sleep(step)
            remaining -= step


def spec_overrides(values: dict[str, Any], spec_task: str | None, candidate: Any) -> dict[str, Any]:
    """The spec fields the form and the chosen option set (the form's empty optional fields set nothing)."""
    training: dict[str, Any] = {"seq_len": int(values["seq_len"]), "micro_batch_size": int(values["batch_size"]),
                                "grad_ckpt": bool(values["grad_ckpt"])}
    if str(values.get("epochs", "")).strip():
        training["epochs"] = float(values["epochs"])
    data = {key: int(values[key]) for key in ("examples", "avg_tokens") if str(values.get(key, "")).strip()}
    overrides: dict[str, Any] = {"model": values["model"].strip(), "method": values["method"],
                                 "quantization": values["quant"], "training": training, "data": data,
                                 "resources": _resources(candidate, values)}
    if spec_task != "smoke":
        overrides["task"] = values["task"]
    return overrides


def _resources(candidate: Any, values: dict[str, Any]) -> dict[str, Any]:
    if candidate is None:
        gpus, nodes = int(values["gpus"]), int(values.get("nodes") or 1)
        sharding = values.get("sharding") or "none"
        if gpus * nodes > 1 and sharding == "none":
            sharding = "ddp"
        return {"gpus": gpus, "nodes": nodes, "sharding": sharding}
    resources: dict[str, Any] = {"provider": candidate.provider}
    if candidate.provider != "local":
        resources.update(gpu=candidate.gpu, gpus=candidate.gpus, spot=candidate.spot, nodes=candidate.nodes)
        if candidate.gpus * candidate.nodes > 1:  # the engine the estimate assumed (DDP, or FSDP when one GPU is too small)
            resources["sharding"] = candidate.sharding if candidate.sharding != "none" else "ddp"
    return resources


def prepare_request(ctx: Any, candidate: Any):
    """A ``LaunchRequest`` for the spec on screen, on ``candidate``'s launcher (blocking: a worker calls it)."""
    from planner.spec import load_spec
    from providers.registry import get_provider
    from remote_jobs import launch as steps

    path = ctx.draft.spec_path
    spec = load_spec(path, spec_overrides(ctx.draft.values, ctx.draft.spec_task, candidate))
    learned = ctx.corrections()
    choice = steps.choose_provider(spec, path, None, ctx.clock, learned)
    return steps.prepare(spec, path, get_provider(choice.name), ctx.clock, prefer=_same_offer(candidate) or choice.prefer,
                         corrections=learned)


def _same_offer(candidate: Any):
    """Launch on the very offer picked (cloud, card, count, spot, offering), not just the provider's best."""
    if candidate is None:
        return None
    wanted = (candidate.cloud, candidate.gpu, candidate.gpus, candidate.spot, candidate.offering, candidate.nodes)
    return lambda c: (c.cloud, c.gpu, c.gpus, c.spot, c.offering, c.nodes) == wanted


def launch_and_watch(ctx: Any, request: Any, on_event, cancelled, on_started=None, validate: bool = True):
    """Bundle (and run the template's own check), record, launch, then watch to the end (pull, verify, tear
    down); returns the final record."""
    from remote_jobs import launch as steps
    from remote_jobs.watch import watch

    root = ctx.runs_root()
    bundle = steps.bundle_and_validate(request, root, validate=validate)
    clock = CancellableClock(ctx.clock, cancelled)
    run = steps.start(request, bundle, ctx.open_ledger(), clock, root, on_event)
    if on_started is not None:
        on_started(run.run_id)
    return watch(run)
