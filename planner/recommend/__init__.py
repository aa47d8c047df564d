"""``tuneplan recommend``: rank every place a job could run — this machine's CPU, Mac GPU and NVIDIA
cards, and each cloud offer × GPU count — by whether it fits, how long it takes and what the whole
run costs, and explain each in one line (CONTRACTS §4).

Pure: prices, the machine and today's date arrive as arguments; nothing here probes or fetches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from planner.catalog.prices import STALE_AFTER_DAYS, PriceRow
from planner.estimate.devices import cpu_target, mac_target
from planner.estimate.inference import estimate_inference
from planner.estimate.bounds import upper_gib
from planner.recommend import costs, local
from planner.recommend.candidates import Electricity, Estimates, cloud_candidates, local_candidates, smi_gib
from planner.recommend.local import LocalMachine
from planner.recommend.ranking import rank
from planner.recommend.reasons import generative, reason
from planner.recommend.result import DEFAULT_DEADLINE_HOURS, Candidate, Constraints, Job

__all__ = ["Candidate", "Constraints", "Electricity", "Job", "LocalMachine", "Recommendation", "recommend"]


@dataclass(frozen=True)
class Recommendation:
    job: Job
    constraints: Constraints
    candidates: list[Candidate]
    today: date
    notes: tuple[str, ...]
    single_gpu_peak_gib: float

    def to_json(self) -> dict[str, Any]:
        return {"job": self._job_json(), "local": self.local_answer(),
                "candidates": [c.to_json() for c in self.candidates]}

    def local_answer(self) -> dict[str, Any]:
        """"Do I need to rent?": the best option on this machine (CPU, Mac GPU or a local NVIDIA card) that
        fits — the fastest, with its time and electricity cost — or why nothing here can run the job. Shown
        above the cloud list whatever its rank, so the answer is always visible."""
        here = [c for c in self.candidates if c.provider == "local"]
        usable = [c for c in here if c.fits]
        if usable:
            best = min(usable, key=lambda c: (c.hours, c.usd))
            return {"option": best.to_json(), "why_not": None}
        if not here:
            return {"option": None, "why_not": "no device of this machine is known (see settings: local)"}
        reasons = [f"{c.device}: {c.why or f'needs {c.peak_gib:.1f} GiB, has {c.memory_gib:.1f} GiB'}" for c in here]
        return {"option": None, "why_not": "; ".join(reasons)}

    def _job_json(self) -> dict[str, Any]:
        s, d, c = self.job.setup, self.job.data, self.constraints
        return {
            "model": self.job.model.model_id, "arch": self.job.model.arch.model_type,
            "params_total": self.job.model.params_total, "task": s.task, "method": s.method, "quant": s.quant,
            "precision": s.precision, "seq_len": s.seq_len, "micro_batch": s.micro_batch,
            "tokens": int(d.tokens), "data": {"examples": d.examples, "avg_tokens": d.avg_tokens,
                                              "epochs": d.epochs, "assumed": d.assumed},
            "peak_gib_one_gpu": self.single_gpu_peak_gib,
            "deadline_hours": c.deadline, "deadline_assumed": c.deadline_hours is None,
            "max_usd": str(costs.usd(c.max_usd)) if c.max_usd is not None else None,
            "max_usd_per_hour": str(c.max_usd_per_hour) if c.max_usd_per_hour is not None else None,
            "spot": c.spot, "providers": sorted(c.providers) if c.providers else None,
            "today": self.today.isoformat(), "assumptions": _assumptions(), "notes": list(self.notes),
        }


def recommend(job: Job, rows: list[PriceRow] | tuple[PriceRow, ...], machine: LocalMachine,
              constraints: Constraints, today: date, power: Electricity | None = None,
              stale_days: int = STALE_AFTER_DAYS, corrections: dict | None = None) -> Recommendation:
    """Every candidate, ranked and tagged, each with its one-line reason. ``corrections``: what the team's past runs
    taught (``planner.learning.learn``), applied to the devices they ran on."""
    power = power or Electricity(costs.DEFAULT_KWH_USD, "assumed default", True)
    est = Estimates(job, constraints.sharding, corrections)
    found = cloud_candidates(est, list(rows), constraints, today, stale_days)
    found += local_candidates(est, machine, constraints, power, today)
    found = [replace(c, tight=c.fits and upper_gib(c.peak_gib, job.setup) > c.memory_gib) for c in found]
    ranked = rank(found, constraints)
    explained = [_explained(c, job, constraints) for c in ranked]
    single = smi_gib(est.memory(est.setup(1, "none")))
    notes = _notes(job, machine, explained, today, stale_days) + _calibration_notes(explained)
    return Recommendation(job, constraints, explained, today, notes, single)


def _calibration_notes(candidates: list[Candidate]) -> tuple[str, ...]:
    """One line per correction that moved a candidate ("calibrated on 7 runs of qlora sft on L4: tokens/s ×0.86")."""
    seen: dict[str, None] = {}
    for candidate in candidates:
        if candidate.calibration:
            seen.setdefault(candidate.calibration["source"], None)
    return tuple(seen)


def _explained(candidate: Candidate, job: Job, constraints: Constraints) -> Candidate:
    return replace(candidate, reason=reason(candidate, job, constraints))


def _notes(job: Job, machine: LocalMachine, candidates: list[Candidate], today: date, stale_days: int) -> tuple[str, ...]:
    notes = list(machine.notes)
    if job.data.assumed:
        notes.append(f"no data size given: assumed {job.data.examples:,} examples × {job.data.avg_tokens} tokens × "
                     f"{job.data.epochs:g} epoch(s); pass --examples/--avg-tokens/--epochs for real hours")
    if not any(c.fits for c in candidates):
        notes.append("nothing fits: try --method qlora, a shorter --seq-len, or gradient checkpointing")
    if not machine.gpus:
        notes.append("no NVIDIA GPU here: occasional fine-tunes are cheaper rented than bought "
                     "(tuneplan rent-vs-buy compares for your usage)")
    stale = sum(1 for c in candidates if c.price_stale)
    if stale:
        notes.append(f"{stale} of {len(candidates)} candidates use prices older than {stale_days} days "
                     f"(as of {today.isoformat()}): tuneplan prices refresh")
    hint = _inference_hint(job, machine)
    if hint:
        notes.append(hint)
    return tuple(notes)


def _inference_hint(job: Job, machine: LocalMachine) -> str:
    """After training: how fast a 4-bit copy of the model would answer here (bandwidth-bound)."""
    if not generative(job) or (machine.mac is None and machine.cpu is None):
        return ""
    target = mac_target(machine.mac.spec()) if machine.mac else cpu_target(machine.cpu.spec())
    inference = estimate_inference(job.model.arch, "nf4", "bf16", 4096, [target])
    speed = inference.decode_tokens_per_s[target.name]
    return (f"for inference after training, a 4-bit copy decodes at ~{speed:,.0f} tokens/s on {target.name} "
            f"(memory bandwidth {target.bandwidth_gb_s:g} GB/s decides the speed)")


def _assumptions() -> dict[str, Any]:
    return {
        **costs.assumptions(), "default_deadline_hours": DEFAULT_DEADLINE_HOURS,
        "system_watts": local.SYSTEM_WATTS, "gpu_training_power_fraction": local.GPU_TRAINING_POWER_FRACTION,
        "cpu_watts_per_core": local.CPU_WATTS_PER_CORE, "mac_watts_by_tier": local.MAC_WATTS_BY_TIER,
        "mac_gpu_memory_fraction": local.MAC_GPU_MEMORY_FRACTION,
        "cpu_ram_usable_fraction": local.CPU_RAM_USABLE_FRACTION, "off_cuda_precision": "fp32",
    }

