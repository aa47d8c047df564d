"""One line per candidate that explains its numbers the way practitioners would.

What the lines lean on: training a generative model needs a GPU; BERT-size training is slow but
possible on a CPU, and evaluation is fine there; Mac GPUs are too slow to fine-tune anything but tiny
models, though quantized models run inference well on them (memory bandwidth decides the speed);
occasional fine-tunes are cheaper rented. The ranking never reads these lines; they only explain it.
"""

from __future__ import annotations

from planner.catalog.gpus import gpu_catalog
from planner.estimate.bounds import upper_gib
from planner.catalog.prices import rate_text
from planner.recommend.result import Candidate, Constraints, Job

# Below this many parameters a model is "tiny": a Mac GPU can fine-tune it in reasonable time.
TINY_MODEL_PARAMS = 1.0e9


def fmt_hours(hours: float) -> str:
    """45 min, 3.2 h, 1,234 h."""
    if hours < 1:
        return f"{max(hours * 60, 1):.0f} min"
    return f"{hours:.1f} h" if hours < 100 else f"{hours:,.0f} h"


def generative(job: Job) -> bool:
    return job.model.arch.is_causal and job.setup.task in ("sft", "dpo")


def reason(candidate: Candidate, job: Job, constraints: Constraints) -> str:
    """The candidate's line: why it fits or not, then what stands out about it."""
    head = _fit_line(candidate, job) if candidate.fits else _misfit_line(candidate)
    extras = [_deadline_line(candidate, constraints)] if candidate.fits else []
    if candidate.tight:
        extras.insert(0, f"tight: up to {upper_gib(candidate.peak_gib, job.setup):.1f} GiB (nine runs in ten) "
                         f"against {candidate.memory_gib:.1f} GiB; a smaller batch or a bigger card is safe")
    if candidate.fits and candidate.spot:
        extras.append("spot: can be interrupted, keep checkpoints")
    if candidate.fits and candidate.kind == "gpu" and _vendor(candidate.gpu) == "AMD":
        extras.append("AMD GPU: needs ROCm builds of PyTorch and of any CUDA-only kernels the run uses")
    if candidate.price_stale:
        extras.append(f"price from {candidate.price_as_of.isoformat()} is stale")
    return "; ".join([head, *[e for e in extras if e]])


def _vendor(gpu: str) -> str:
    spec = gpu_catalog().get(gpu)
    return spec.vendor if spec else ""


def _misfit_line(c: Candidate) -> str:
    if c.why and c.peak_gib == 0:
        return c.why
    short = f"short by {c.peak_gib - c.memory_gib:.1f} GiB"
    if c.kind == "cpu":
        return f"needs {c.peak_gib:.1f} GiB of RAM, {c.memory_gib:.1f} GiB usable ({short})"
    if c.kind == "mac":
        return f"needs {c.peak_gib:.1f} GiB, the Apple GPU may use {c.memory_gib:.1f} GiB ({short})"
    if c.gpus == 1:
        return (f"needs {c.peak_gib:.1f} GiB, the {c.gpu} has {c.memory_gib:.1f} GiB ({short}); "
                "sharding over several GPUs (FSDP) splits the weights")
    return f"even with {c.sharding.upper()} over {c.gpus} GPUs it needs {c.peak_gib:.1f} GiB per GPU ({short})"


def _fit_line(c: Candidate, job: Job) -> str:
    hours = fmt_hours(c.train_hours)
    if c.kind == "cpu":
        if generative(job):
            return f"fits in RAM but takes {hours}: training a generative model needs a GPU"
        return f"BERT-size training works on a CPU, slowly ({hours}); evaluation is fine here"
    if c.kind == "mac":
        if job.model.params_total < TINY_MODEL_PARAMS:
            return f"a tiny model: the Apple GPU fine-tunes it in {hours}"
        return (f"{hours} on the Apple GPU: Mac GPUs are too slow to fine-tune anything but tiny models "
                "(fine for quantized inference, where memory bandwidth decides the speed)")
    if c.provider == "local":
        return f"your own {c.gpu}: {hours}, electricity only (${c.usd}); {c.headroom_gib:.1f} GiB headroom"
    fixed = c.usd - _term(c, "gpu_hours") - _term(c, "host")
    line = (f"{hours} of training at ${rate_text(c.cost.usd_per_hour)}/h + ${fixed} fixed (boot, setup, download, disk); "
            f"{c.headroom_gib:.1f} GiB headroom")
    if c.gpus > 1:
        line += (f"; {c.sharding.upper()} over {c.gpus} GPUs "
                 + ("(fits on one, more GPUs buy speed)" if c.sharding == "ddp" else "(too big for one GPU)"))
    return line


def _term(c: Candidate, name: str):
    return c.cost.terms.get(name, 0)


def _deadline_line(c: Candidate, constraints: Constraints) -> str:
    parts = []
    if "cheapest_within_deadline" in c.tags:
        parts.append(f"cheapest within the {constraints.deadline:g} h deadline")
    elif "cheapest" in c.tags:
        parts.append("cheapest overall")
    if "fastest" in c.tags:
        parts.append("fastest within budget" if constraints.max_usd is not None else "fastest")
    if not c.meets_deadline:
        parts.append(f"misses the {constraints.deadline:g} h deadline")
    if not c.within_budget:
        parts.append("over budget")
    return ", ".join(parts)
