"""What this machine has, found without importing torch: NVIDIA cards through ``nvidia-smi``, an Apple
chip through ``sysctl`` (macOS), the CPU's name, cores, vector ISA and RAM from ``/proc`` (Linux) or
``sysctl``. Detected names are mapped to catalog entries; cards and Macs declared in the settings file
are added (a declared card replaces a detected card of the same kind).

A probe that fails (no nvidia-smi, a timeout, output it cannot read) adds a note and never an error:
a machine without a GPU is the normal case.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

from planner.catalog.gpus import gpu_catalog
from planner.errors import NotFound
from planner.recommend.local import LocalCpu, LocalGpu, LocalMac, LocalMachine, chip_named

PROBE_TIMEOUT_S = 5.0
SMI_QUERY = ["--query-gpu=name,memory.total,power.limit", "--format=csv,noheader,nounits"]


def _run(command: list[str]) -> str | None:
    """stdout of a probe, or None when the tool is missing, fails or hangs."""
    exe = shutil.which(command[0])
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *command[1:]], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _squash(text: str) -> str:
    cleaned = text.lower()
    for word in ("nvidia", "geforce", "tesla", "generation", "quadro"):
        cleaned = cleaned.replace(word, "")
    return re.sub(r"[^a-z0-9]", "", cleaned)


def match_gpu_name(name: str, memory_mib: float | None = None) -> str | None:
    """The canonical GPU an nvidia-smi name means ('NVIDIA A100-SXM4-80GB' → 'A100-80GB'), or None.

    Exact names and aliases first; otherwise the longest catalog family that prefixes the name, then
    the PCIe/SXM form the name says, then the variant whose memory is closest.
    """
    catalog = gpu_catalog()
    wanted = _squash(name)
    for spec in catalog.values():
        labels = (spec.name, spec.runpod_api_id, *spec.aliases)
        if any(label and _squash(label) == wanted for label in labels):
            return spec.name
    families = [_squash(n) for n in catalog if wanted.startswith(_squash(n))]
    if not families:
        return None
    family = max(families, key=len)
    variants = [spec for n, spec in catalog.items() if _squash(n).startswith(family)]
    pcie = [s for s in variants if ("pcie" in _squash(s.name)) == ("pcie" in wanted)] or variants
    if memory_mib is None:
        return min(pcie, key=lambda s: len(s.name)).name
    return min(pcie, key=lambda s: abs(s.smi_memory_gib * 1024 - memory_mib)).name


def detect_nvidia() -> tuple[list[LocalGpu], list[str]]:
    """Cards nvidia-smi lists, grouped by kind."""
    out = _run(["nvidia-smi", *SMI_QUERY])
    if out is None:
        return [], []
    counts: dict[str, list[float]] = {}
    notes = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        memory = _number(parts[1]) if len(parts) > 1 else None
        canonical = match_gpu_name(parts[0], memory)
        if canonical is None:
            notes.append(f"GPU '{parts[0]}' is not in the catalog: declare a similar card in settings")
            continue
        counts.setdefault(canonical, []).append(memory or 0.0)
    gpus = [LocalGpu(name, len(mems), round(min(mems) / 1024, 2) if min(mems) else None, label="detected")
            for name, mems in counts.items()]
    return gpus, notes


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _sysctl(*keys: str) -> list[str] | None:
    out = _run(["sysctl", "-n", *keys])
    lines = out.strip().splitlines() if out else []
    return lines if len(lines) == len(keys) else None


def detect_apple(system: str | None = None) -> tuple[LocalMac | None, list[str]]:
    """The Apple chip and unified memory of a Mac (sysctl), or None elsewhere."""
    if (system or platform.system()) != "Darwin":
        return None, []
    values = _sysctl("machdep.cpu.brand_string", "hw.memsize")
    if values is None or not values[0].startswith("Apple"):
        return None, []
    try:
        chip = chip_named(values[0])
    except NotFound:
        return None, [f"{values[0]} is not in the Apple catalog: declare the closest chip in settings"]
    memory = _number(values[1])
    return LocalMac(chip.name, round(memory / 2**30) if memory else chip.max_memory_gb, label="this Mac"), []


def detect_cpu(system: str | None = None, proc: Path = Path("/proc")) -> LocalCpu:
    """CPU name, physical cores, best vector ISA and total RAM."""
    if (system or platform.system()) == "Darwin":
        values = _sysctl("machdep.cpu.brand_string", "hw.physicalcpu", "hw.memsize") or ["Apple CPU", "0", "0"]
        cores = int(_number(values[1]) or os.cpu_count() or 1)
        ram = (_number(values[2]) or 0) / 2**30
        isa = "neon" if platform.machine() == "arm64" or values[0].startswith("Apple") else "avx2"
        return LocalCpu(values[0], cores, round(ram, 1), isa)
    info = _read(proc / "cpuinfo")
    return LocalCpu(_cpu_name(info), _physical_cores(info), _ram_gib(_read(proc / "meminfo")), _isa(info))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _field(info: str, name: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in info.splitlines()
            if ":" in line and line.split(":", 1)[0].strip() == name]


def _cpu_name(info: str) -> str:
    names = _field(info, "model name") or _field(info, "Hardware") or [platform.processor() or "unknown CPU"]
    return names[0]


def _isa(info: str) -> str:
    flags = set(" ".join(_field(info, "flags") + _field(info, "Features")).split())
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return "neon" if "asimd" in flags else "base"


def _physical_cores(info: str) -> int:
    """Distinct (package, core) pairs; hyper-threads add no FMA units."""
    pairs, package = set(), "0"
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            package = value.strip()
        elif key.strip() == "core id":
            pairs.add((package, value.strip()))
    return len(pairs) or os.cpu_count() or 1


def _ram_gib(meminfo: str) -> float:
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo, re.MULTILINE)
    if match:
        return round(int(match.group(1)) * 1024 / 2**30, 1)
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def local_machine(hardware, system: str | None = None, proc: Path = Path("/proc")) -> LocalMachine:
    """This machine as settings describe it: detected parts (if ``hardware.detect``) plus declared ones.

    ``hardware`` is ``providers.settings.HardwareSettings``.
    """
    gpus: list[LocalGpu] = []
    mac, cpu, notes = None, None, []
    if hardware.detect:
        gpus, notes = detect_nvidia()
        mac, mac_notes = detect_apple(system)
        notes += mac_notes
        cpu = detect_cpu(system, proc)
    declared = [LocalGpu(g.name, g.count, None, g.power_watts, g.note or "declared") for g in hardware.gpus]
    kinds = {g.gpu for g in declared}
    gpus = [g for g in gpus if g.gpu not in kinds] + declared
    if hardware.mac is not None:
        m = hardware.mac
        mac = LocalMac(m.chip, m.memory_gb, m.power_watts, m.note or "declared")
    return LocalMachine(cpu if hardware.include_cpu else None, mac, tuple(gpus), tuple(notes))
