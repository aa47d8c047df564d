"""Hardware detection with fake ``nvidia-smi`` and ``sysctl`` executables on PATH and fake /proc files:
names map to catalog entries, failures become notes, declared hardware joins detected hardware."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from providers.hardware import detect_apple, detect_cpu, detect_nvidia, local_machine, match_gpu_name
from providers.settings import HardwareSettings


def fake_tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def bin_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


SMI_OUTPUT = """NVIDIA GeForce RTX 4090, 24564, 450.00
NVIDIA GeForce RTX 4090, 24564, 450.00
NVIDIA A100-SXM4-80GB, 81920, 400.00
NVIDIA GeForce RTX 3060, 12288, 170.00
"""


@pytest.mark.parametrize("name, memory, canonical", [
    ("NVIDIA A100-SXM4-80GB", 81920, "A100-80GB"), ("NVIDIA A100-SXM4-40GB", 40960, "A100"),
    ("NVIDIA A100 80GB PCIe", 81920, "A100-80GB-PCIe"), ("NVIDIA H100 80GB HBM3", 81559, "H100"),
    ("NVIDIA H100 PCIe", 81559, "H100-PCIe"), ("NVIDIA H100 NVL", 95830, "H100-NVL"),
    ("Tesla T4", 15360, "T4"), ("Tesla V100-SXM2-16GB", 16160, "V100"), ("NVIDIA A10G", 23028, "A10G"),
    ("NVIDIA RTX A6000", 49140, "RTXA6000"), ("NVIDIA RTX 6000 Ada Generation", 49140, "RTX6000-Ada"),
    ("NVIDIA GeForce RTX 3060", 12288, None),
])
def test_smi_names_map_to_the_catalog(name, memory, canonical):
    assert match_gpu_name(name, memory) == canonical


def test_nvidia_smi_cards_are_grouped(bin_dir):
    fake_tool(bin_dir, "nvidia-smi", f"cat <<'EOF'\n{SMI_OUTPUT}EOF\n")
    gpus, notes = detect_nvidia()
    by_name = {g.gpu: g for g in gpus}
    assert by_name["RTX4090"].count == 2 and by_name["RTX4090"].memory_gib == pytest.approx(23.99, abs=0.01)
    assert by_name["A100-80GB"].count == 1
    assert len(notes) == 1 and "RTX 3060" in notes[0]


def test_failing_or_missing_nvidia_smi_is_no_gpu(bin_dir, monkeypatch):
    fake_tool(bin_dir, "nvidia-smi", "echo 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert detect_nvidia() == ([], [])
    monkeypatch.setenv("PATH", str(bin_dir / "nowhere"))
    assert detect_nvidia() == ([], [])


def test_apple_chip_from_sysctl(bin_dir):
    fake_tool(bin_dir, "sysctl", 'echo "Apple M3 Max"\necho 68719476736\n')
    mac, notes = detect_apple(system="Darwin")
    assert mac.chip == "M3 Max (40-core GPU)" and mac.memory_gb == 64 and not notes
    assert mac.usable_gib == pytest.approx(48.0)
    assert detect_apple(system="Linux") == (None, [])


def test_unknown_apple_chip_is_a_note(bin_dir):
    fake_tool(bin_dir, "sysctl", 'echo "Apple M1"\necho 17179869184\n')
    mac, notes = detect_apple(system="Darwin")
    assert mac is None and "Apple M1" in notes[0]


def test_mac_cpu_from_sysctl(bin_dir):
    fake_tool(bin_dir, "sysctl", 'echo "Apple M4 Pro"\necho 12\necho 51539607552\n')
    cpu = detect_cpu(system="Darwin")
    assert (cpu.name, cpu.cores, cpu.ram_gib, cpu.isa) == ("Apple M4 Pro", 12, 48.0, "neon")


def _proc(tmp_path: Path, flags: str, cores: int = 4, name: str = "AMD Ryzen 9 7950X 16-Core Processor") -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    blocks = [f"processor\t: {i}\nmodel name\t: {name}\nphysical id\t: 0\ncore id\t\t: {i % cores}\nflags\t\t: {flags}\n"
              for i in range(cores * 2)]
    (proc / "cpuinfo").write_text("\n".join(blocks))
    (proc / "meminfo").write_text("MemTotal:       65536000 kB\nMemFree:  1 kB\n")
    return proc


def test_linux_cpu_cores_isa_ram(tmp_path):
    cpu = detect_cpu(system="Linux", proc=_proc(tmp_path, "fpu sse2 avx avx2 fma avx512f avx512bw", cores=16))
    assert cpu.cores == 16 and cpu.isa == "avx512" and cpu.ram_gib == pytest.approx(62.5)
    assert cpu.spec().name == "AMD Ryzen 9 7950X"  # the catalog entry, not a generic one


def test_unknown_cpu_gets_a_generic_spec(tmp_path):
    cpu = detect_cpu(system="Linux", proc=_proc(tmp_path, "fpu sse2 avx avx2", cores=2, name="Some CPU"))
    assert cpu.isa == "avx2" and cpu.spec().fp32_gflops == pytest.approx(2 * 32 * 3.0)


def test_declared_hardware_joins_and_replaces(bin_dir, tmp_path):
    fake_tool(bin_dir, "nvidia-smi", f"cat <<'EOF'\n{SMI_OUTPUT}EOF\n")
    settings = HardwareSettings.model_validate({
        "gpus": [{"name": "RTX 4090", "count": 1, "note": "under the desk"}, {"name": "L40S"}],
        "mac": {"chip": "M3 Ultra", "memory_gb": 192}})
    machine = local_machine(settings, system="Linux", proc=_proc(tmp_path, "avx2"))
    kinds = {g.gpu: g for g in machine.gpus}
    assert kinds["RTX4090"].count == 1 and kinds["RTX4090"].label == "under the desk"  # declared replaces detected
    assert set(kinds) == {"RTX4090", "A100-80GB", "L40S"} and machine.mac.chip == "M3 Ultra"
    quiet = local_machine(HardwareSettings(detect=False, include_cpu=False))
    assert quiet.cpu is None and quiet.gpus == () and quiet.mac is None
