"""Every place a job could run, measured: memory per device, hours, and the cost of the whole run.

Cloud offers come from the price rows (one candidate per offer, two when spot is allowed and priced);
local ones from the machine description. When one GPU is not enough, a multi-GPU offer shards the
job: DDP when the model already fits on one GPU (more GPUs only buy speed), FSDP when it does not.
Off CUDA the templates train in fp32 (CONTRACTS §6), so CPU and Mac estimates use fp32.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from planner.catalog.gpus import GpuSpec, gpu_catalog
from planner.catalog.prices import PriceRow
from planner.errors import BadInput
from planner.estimate.devices import ComputeTarget, cpu_target, gpu_target, mac_target
from planner.estimate.memory import BREAKDOWN_KEYS, MemoryEstimate, estimate_memory
from planner.estimate.setup import TrainingSetup
from planner.estimate.timing import estimate_time
from planner.recommend.capabilities import launchable, multi_node
from planner.learning import Correction, correction_for, price_factor, toward
from planner.recommend.costs import LOCAL_STARTUP_S, PROVISIONING_MINUTES, cloud_cost, local_cost
from planner.recommend.local import LocalGpu, LocalMachine
from planner.recommend.result import Candidate, Constraints, Job
from planner.units import GIB


MULTI_NODE_COUNTS = (2, 4)  # several machines are considered for full 8-GPU (or 4-GPU) machines only
MULTI_NODE_MIN_GPUS = 4


@dataclass(frozen=True)
class Fit:
    """A job on ``gpus`` devices of one kind: peak memory per device and training time."""

    fits: bool
    peak_gib: float
    sharding: str
    hours: float
    tokens_per_s: float
    approximate: bool
    problem: str = ""
    correction: Correction | None = None
    """What the team's past runs of this kind on this device corrected (time, memory), or None."""
    card_gib: float = 0.0
    """The memory the device offers the job (what ``fits`` compared the peak with)."""


class Estimates:
    """Memory and time for one job, memoised per (GPU count, sharding) and per device kind; with ``corrections``
    (``planner.learning``), each device's time and memory as the team's past runs of this kind measured them."""

    def __init__(self, job: Job, sharding: str | None = None, corrections: dict | None = None) -> None:
        self.job = job
        self.sharding = sharding if sharding not in (None, "none", "ddp") else None
        self.corrections = corrections or {}
        self._memory: dict[tuple, MemoryEstimate] = {}
        self._fits: dict[tuple[str, int, float], Fit] = {}

    def correction(self, device: str) -> Correction | None:
        s = self.job.setup
        return correction_for(self.corrections, device, s.method, s.task, s.stack)

    def calibrated(self, fit: Fit, device: str) -> Fit:
        """``fit`` with the correction for ``device``: time × the time factor; memory × the memory factor where
        that raises it (a factor below 1 is reported, never used to call a fit safe)."""
        correction = self.correction(device)
        if correction is None or fit.problem:
            return fit
        factor = correction.time.value if correction.time else 1.0
        peak = round(fit.peak_gib * max(1.0, correction.memory_factor), 2)
        return replace(fit, hours=fit.hours * factor, tokens_per_s=fit.tokens_per_s / factor, peak_gib=peak,
                       fits=fit.fits and peak <= fit.card_gib, correction=correction)

    def memory(self, setup: TrainingSetup) -> MemoryEstimate:
        key = (setup.gpus, setup.nodes, setup.sharding, setup.precision, setup.attn, setup.kernels)
        if key not in self._memory:
            self._memory[key] = estimate_memory(self.job.model.arch, setup)
        return self._memory[key]

    def setup(self, gpus: int, sharding: str, nodes: int = 1) -> TrainingSetup:
        return replace(self.job.setup, gpus=gpus, nodes=nodes, sharding=sharding).validated()

    def time(self, setup: TrainingSetup, target: ComputeTarget):
        data = self.job.data
        return estimate_time(self.job.model.arch, setup, target, data.tokens, data.avg_tokens)

    def gpu_fit(self, gpu: GpuSpec, gpus: int, card_gib: float, nodes: int = 1) -> Fit:
        """Fit on ``nodes`` × ``gpus`` cards; several cards use DDP if one card holds the job, else FSDP."""
        key = (gpu.name, gpus, card_gib, nodes)
        if key not in self._fits:
            self._fits[key] = self._gpu_fit(gpu, gpus, card_gib, nodes)
        return self._fits[key]

    def _gpu_fit(self, gpu: GpuSpec, gpus: int, card_gib: float, nodes: int) -> Fit:
        try:
            single = self.setup(1, "none")
            setup = single if gpus * nodes == 1 else self.setup(gpus, self._sharding_for(single, card_gib), nodes)
        except BadInput as exc:
            return Fit(False, 0.0, "none", 0.0, 0.0, True, str(exc))
        peak = smi_gib(self.memory(setup))
        if gpus * nodes > 1 and setup.sharding == "ddp" and peak > card_gib:
            setup = self.setup(gpus, "fsdp", nodes)
            peak = smi_gib(self.memory(setup))
        time = self.time(setup, gpu_target(gpu, setup.precision))
        return self.calibrated(Fit(peak <= card_gib, peak, setup.sharding, time.hours, time.tokens_per_s,
                                   time.approximate, card_gib=card_gib), gpu.name)

    def _sharding_for(self, single: TrainingSetup, card_gib: float) -> str:
        if self.sharding:
            return self.sharding
        return "ddp" if smi_gib(self.memory(single)) <= card_gib else "fsdp"

    def host_fit(self, target: ComputeTarget, usable_gib: float, device: str = "cpu") -> Fit:
        """CPU or Apple GPU: one device, fp32, memory is the tensors (no CUDA context). ``device``: the name the
        ledger records for it (``cpu``, ``Apple M2 Pro``), for the team's corrections."""
        setup = off_cuda(self.job.setup)
        peak = round(self.memory(setup).allocated / GIB, 2)
        time = self.time(setup, target)
        return self.calibrated(Fit(peak <= usable_gib, peak, "none", time.hours, time.tokens_per_s, True,
                                   card_gib=usable_gib), device)


def smi_gib(memory: MemoryEstimate) -> float:
    """The per-GPU peak as ``plan`` reports it (sum of the rounded breakdown)."""
    return round(sum(round(memory.breakdown[k] / GIB, 2) for k in BREAKDOWN_KEYS), 2)


def off_cuda(setup: TrainingSetup) -> TrainingSetup:
    """The setup the templates really run on a CPU or a Mac: fp32, SDPA, stock kernels, one device."""
    return replace(setup, precision="fp32", attn="sdpa", kernels="none", gpus=1, sharding="none")


def cloud_candidates(est: Estimates, rows: list[PriceRow], constraints: Constraints,
                     today: date, stale_days: int) -> list[Candidate]:
    """One candidate per offer (and per spot price when spot is allowed)."""
    out = []
    params = est.job.model.params_total
    for row in rows:
        if not _offer_allowed(row, constraints):
            continue
        gpu = gpu_catalog()[row.gpu]
        for nodes in _node_counts(row, constraints):
            out += _row_candidates(est, row, gpu, nodes, constraints, today, stale_days, params)
    return out


def _node_counts(row: PriceRow, constraints: Constraints) -> tuple[int, ...]:
    """One machine always; several (2, 4) of a full multi-GPU machine where the launcher runs several."""
    if constraints.nodes is not None:
        return tuple(sorted(constraints.nodes))
    return (1, *MULTI_NODE_COUNTS) if row.gpus >= MULTI_NODE_MIN_GPUS and multi_node(row.launcher, row.gpus) else (1,)


def _row_candidates(est: Estimates, row: PriceRow, gpu: GpuSpec, nodes: int, constraints: Constraints, today: date,
                    stale_days: int, params: int) -> list[Candidate]:
    out = []
    fit = est.gpu_fit(gpu, row.gpus, gpu.smi_memory_gib, nodes)
    row = _billed_price(est, row)
    machines = _machines(row, nodes)
    spots = (False, True) if constraints.spot and row.spot_usd_per_hour is not None else (False,)
    for spot in spots:
        ok, why = launchable(row.launcher, row.gpus, spot, row.cloud, nodes)
        out.append(Candidate(
            provider=row.launcher, cloud=row.cloud, gpu=row.gpu, gpus=row.gpus, spot=spot, region=row.region,
            device=_cloud_device(row, nodes), kind="gpu", sharding=fit.sharding, fits=fit.fits, peak_gib=fit.peak_gib,
            memory_gib=gpu.smi_memory_gib, train_hours=fit.hours, tokens_per_s=fit.tokens_per_s,
            cost=cloud_cost(machines, spot, fit.hours, params, _provisioning_hours(fit, row.launcher)),
            price_source=row.source, price_as_of=row.as_of,
            price_approx=row.approx, price_stale=row.is_stale(today, stale_days), launchable=ok and not fit.problem,
            why=fit.problem or why, approximate=fit.approximate, offering=row.offering, nodes=nodes,
            calibration=fit.correction.to_json() if fit.correction else None,
        ))
    return out


def _provisioning_hours(fit: Fit, launcher: str) -> float | None:
    """The boot time the team's runs of this kind measured (shrunk toward the assumption), or None."""
    c = fit.correction
    if c is None or c.provisioning_s is None:
        return None
    return toward(PROVISIONING_MINUTES[launcher] * 60, c.provisioning_s, c.runs) / 3600


def _billed_price(est: Estimates, row: PriceRow) -> PriceRow:
    """The offer at the price the provider's own bills for this device came to (billed ÷ recorded rate × time),
    where the team has such bills; the price source says so."""
    factor = price_factor(est.corrections, row.launcher, row.gpu)
    if factor is None:
        return row
    scale = Decimal(repr(round(factor.value, 4)))
    spot = row.spot_usd_per_hour * scale if row.spot_usd_per_hour is not None else None
    note = f"{row.source}; × {scale} as {factor.runs} bill(s) of {row.launcher} for {row.gpu} came to"
    return replace(row, usd_per_hour=(row.usd_per_hour * scale).quantize(Decimal("0.0001")),
                   spot_usd_per_hour=spot.quantize(Decimal("0.0001")) if spot is not None else None, source=note)


def _machines(row: PriceRow, nodes: int) -> PriceRow:
    """``nodes`` machines of one offer, priced as one row (every rate × nodes)."""
    if nodes == 1:
        return row
    spot = row.spot_usd_per_hour * nodes if row.spot_usd_per_hour is not None else None
    return replace(row, usd_per_hour=row.usd_per_hour * nodes, spot_usd_per_hour=spot)


def _offer_allowed(row: PriceRow, constraints: Constraints) -> bool:
    return (constraints.allows(row.launcher, row.cloud)
            and (constraints.gpu_types is None or row.gpu in constraints.gpu_types)
            and (constraints.gpu_counts is None or row.gpus in constraints.gpu_counts))


def _cloud_device(row: PriceRow, nodes: int = 1) -> str:
    """'1× RTX4090 runpod community', '8× H100 aws p5.48xlarge', '2 nodes × 8× H100 aws p5.48xlarge'."""
    if row.cloud == "runpod":
        where = row.offering.removesuffix("-cloud")
    else:
        where = row.instance_type if row.cloud != "modal" else ""
    machine = f"{row.gpus}× {row.gpu} {row.cloud}" + (f" {where}" if where else "")
    return f"{nodes} nodes × {machine}" if nodes > 1 else machine


@dataclass(frozen=True)
class Electricity:
    """The energy price local runs pay, and where it came from (settings or the default)."""

    kwh_usd: Decimal
    source: str
    assumed: bool


def local_candidates(est: Estimates, machine: LocalMachine, constraints: Constraints,
                     power: Electricity, today: date) -> list[Candidate]:
    """This machine's CPU, Apple GPU and NVIDIA cards (each card kind at 1 and at all of them)."""
    if not constraints.allows("local", "local"):
        return []
    out = []
    if constraints.gpu_types is None:
        if machine.cpu is not None:
            out.append(_cpu_candidate(est, machine, power, today))
        if machine.mac is not None:
            out.append(_mac_candidate(est, machine, power, today))
    for group in machine.gpus:
        if constraints.gpu_types is not None and group.gpu not in constraints.gpu_types:
            continue
        for count in sorted({1, group.count}):
            if constraints.gpu_counts is None or count in constraints.gpu_counts:
                out.append(_gpu_candidate(est, group, count, power, today))
    return out


def _local(est: Estimates, fit: Fit, watts: float, power: Electricity, today: date, **fields) -> Candidate:
    ok, why = launchable("local", fields["gpus"], False)
    return Candidate(
        provider="local", cloud="local", spot=False, region="local", sharding=fit.sharding, fits=fit.fits,
        peak_gib=fit.peak_gib, train_hours=fit.hours, tokens_per_s=fit.tokens_per_s,
        cost=local_cost(watts, power.kwh_usd, fit.hours, _startup_s(fit)),
        price_source=f"electricity ${power.kwh_usd}/kWh ({power.source}) at {watts:.0f} W",
        price_as_of=today, price_approx=power.assumed, price_stale=False, launchable=ok and not fit.problem,
        why=fit.problem or why, approximate=fit.approximate,
        calibration=fit.correction.to_json() if fit.correction else None, **fields,
    )


def _startup_s(fit: Fit) -> float:
    """A local job's own start as the team's runs measured it (shrunk toward the assumption)."""
    c = fit.correction
    if c is None:
        return LOCAL_STARTUP_S
    measured = None if c.overhead_s is None else c.overhead_s + (c.provisioning_s or 0.0)
    return toward(LOCAL_STARTUP_S, measured, c.runs)


def _cpu_candidate(est: Estimates, machine: LocalMachine, power: Electricity, today: date) -> Candidate:
    cpu = machine.cpu
    spec = cpu.spec()
    fit = est.host_fit(cpu_target(spec), cpu.usable_gib)
    device = f"CPU: {cpu.name} ({cpu.cores} cores, {cpu.ram_gib:.0f} GiB RAM)"
    return _local(est, fit, cpu.watts(), power, today, gpu="cpu", gpus=0, device=device, kind="cpu",
                  memory_gib=cpu.usable_gib)


def _mac_candidate(est: Estimates, machine: LocalMachine, power: Electricity, today: date) -> Candidate:
    mac = machine.mac
    chip = mac.spec()
    fit = est.host_fit(mac_target(chip), mac.usable_gib, f"Apple {chip.name}")
    device = f"Apple {chip.name} GPU ({mac.memory_gb:.0f} GB unified memory)"
    return _local(est, fit, mac.watts(), power, today, gpu=f"Apple {chip.name}", gpus=1, device=device,
                  kind="mac", memory_gib=mac.usable_gib)


def _gpu_candidate(est: Estimates, group: LocalGpu, count: int, power: Electricity, today: date) -> Candidate:
    fit = est.gpu_fit(group.spec(), count, group.card_gib)
    label = f" — {group.label}" if group.label else ""
    device = f"{count}× {group.gpu} this machine{label}"
    return _local(est, fit, group.watts(count), power, today, gpu=group.gpu, gpus=count, device=device,
                  kind="gpu", memory_gib=group.card_gib)
