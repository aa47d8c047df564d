"""This machine as the recommender sees it: plain values that ``providers.hardware`` detects or the
settings file declares. Nothing here probes the system; it only turns those values into devices the
time model knows, and says how much power they draw and how much memory a training run may use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.catalog.devices import AppleChip, CpuSpec, apple_chips, cpus
from planner.catalog.gpus import GpuSpec, find_gpu
from planner.errors import NotFound
from planner.suggest import did_you_mean

# Wall power of the rest of a PC under load (board, RAM, fans, PSU losses): assumption, not measured.
SYSTEM_WATTS = 60.0
# A training loop keeps a GPU close to its power limit: share of TDP drawn (assumption).
GPU_TRAINING_POWER_FRACTION = 0.9
# CPU package power under all-core vector load, per physical core (desktop parts draw 10-15 W a core,
# laptops less): assumption.
CPU_WATTS_PER_CORE = 10.0
# Whole-Mac wall power with the GPU busy, by chip tier (reviews of sustained GPU loads): assumption.
MAC_WATTS_BY_TIER = {"": 30.0, "Pro": 50.0, "Max": 90.0, "Ultra": 180.0}
# Metal lets the GPU wire about three quarters of unified memory (recommendedMaxWorkingSetSize).
MAC_GPU_MEMORY_FRACTION = 0.75
# RAM a training process can take on a PC without swapping (the OS and the desktop keep the rest).
CPU_RAM_USABLE_FRACTION = 0.85
# For a CPU that is not in the catalog: FP32 FLOP per cycle per core by vector ISA (two FMA units),
# an assumed all-core clock, and dual-channel DDR4-3200 bandwidth (the catalog's "typical desktop").
FLOP_PER_CYCLE_BY_ISA = {"avx512": 64, "avx2": 32, "neon": 16, "base": 8}
ASSUMED_CPU_GHZ = 3.0
ASSUMED_CPU_BANDWIDTH_GB_S = 51.2


@dataclass(frozen=True)
class LocalCpu:
    """The host CPU: name as the OS reports it, physical cores, RAM, best vector ISA."""

    name: str
    cores: int
    ram_gib: float
    isa: str = "base"
    power_watts: float | None = None

    def spec(self) -> CpuSpec:
        """The catalog CPU this one is, else a generic one built from cores × ISA × an assumed clock."""
        for entry in cpus().values():
            if _short(entry.name).lower() in self.name.lower():
                return entry
        flops = self.cores * FLOP_PER_CYCLE_BY_ISA.get(self.isa, 8) * ASSUMED_CPU_GHZ
        return CpuSpec(self.name, "detected", f"{self.cores}C", ASSUMED_CPU_BANDWIDTH_GB_S, flops)

    def watts(self) -> float:
        return self.power_watts or min(250.0, CPU_WATTS_PER_CORE * self.cores) + SYSTEM_WATTS

    @property
    def usable_gib(self) -> float:
        return round(self.ram_gib * CPU_RAM_USABLE_FRACTION, 2)


def _short(name: str) -> str:
    return name.split(" (")[0]


@dataclass(frozen=True)
class LocalMac:
    """An Apple Silicon Mac: its chip (catalog name) and unified memory (Apple's "64 GB" is 64 GiB)."""

    chip: str
    memory_gb: float
    power_watts: float | None = None
    label: str = ""

    def spec(self) -> AppleChip:
        return chip_named(self.chip)

    def watts(self) -> float:
        tier = next((t for t in ("Ultra", "Max", "Pro") if t in self.chip), "")
        return self.power_watts or MAC_WATTS_BY_TIER[tier]

    @property
    def usable_gib(self) -> float:
        return round(self.memory_gb * MAC_GPU_MEMORY_FRACTION, 2)


def chip_named(name: str) -> AppleChip:
    """An Apple chip by its exact name ("M4" is the base M4, not the M4 Max); a name with two GPU
    variants ("M3 Max") gets the larger one.

    Raises:
        NotFound: for a chip the catalog does not have (the base M1-M3 are not in it).
    """
    def squash(text: str) -> str:
        return text.lower().replace("apple", "").replace(" ", "")

    wanted = squash(name)
    matches = [chip for key, chip in apple_chips().items()
               if squash(key) == wanted or squash(key.split(" (")[0]) == wanted]
    if not matches:
        raise NotFound(f"unknown Apple chip '{name}'{did_you_mean(name, apple_chips())}")
    return max(matches, key=lambda chip: chip.gpu_cores)


@dataclass(frozen=True)
class LocalGpu:
    """NVIDIA cards of one kind in this machine (canonical name, how many, memory each)."""

    gpu: str
    count: int = 1
    memory_gib: float | None = None
    power_watts: float | None = None
    label: str = ""

    def spec(self) -> GpuSpec:
        return find_gpu(self.gpu)

    def watts(self, gpus: int) -> float:
        """Wall power with ``gpus`` of these cards training (the host included once)."""
        per_card = self.power_watts or (self.spec().tdp_watts or 300.0) * GPU_TRAINING_POWER_FRACTION
        return per_card * gpus + SYSTEM_WATTS

    @property
    def card_gib(self) -> float:
        return self.memory_gib or self.spec().smi_memory_gib


@dataclass(frozen=True)
class LocalMachine:
    """Everything local the recommender may use; empty parts mean "not here"."""

    cpu: LocalCpu | None = None
    mac: LocalMac | None = None
    gpus: tuple[LocalGpu, ...] = ()
    notes: tuple[str, ...] = field(default=())
