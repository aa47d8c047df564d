"""What the time model needs to know about a device: peak throughput, bandwidth, and how much of it a
fine-tuning stack really gets.

Efficiencies are the share of the dense tensor-core peak that the matmuls of a Hugging Face training
step reach in eager PyTorch (bf16, SDPA): big GEMMs run at 60-75 % of peak, but a training step also
runs norms, rotary embeddings, casts and LoRA's small matmuls, and newer chips lose more to them
because their peaks grew faster than their memory. Calibrated on the published throughputs in
tests/fixtures/measured-speed-public.csv (A100, RTX 4090, RTX A6000, V100) and checked against the
GPU-generation ratios reported by the same sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from planner.catalog.gpus import GpuSpec

if TYPE_CHECKING:
    from planner.catalog.devices import AppleChip, CpuSpec

# Share of dense peak reached by an eager HF training step's matmuls, by GPU generation (calibrated).
# Consumer cards are listed at their fp32-accumulate rate already, so they keep the Ampere/Ada share.
MATMUL_EFFICIENCY_BY_ARCH = {
    "Hopper": 0.30, "Blackwell": 0.25, "Blackwell (consumer)": 0.45, "Ampere": 0.45, "Ada": 0.45,
    "Turing": 0.45, "Volta": 0.45, "CDNA": 0.20,
}
DEFAULT_MATMUL_EFFICIENCY = 0.40
# Share of peak bandwidth that weight streaming and dequantisation kernels reach.
BANDWIDTH_EFFICIENCY = 0.75
# GPUs before Ampere have no TF32: fp32 training runs on CUDA cores at 1/8 of the fp16 tensor peak
# (V100: 125 → 15.7 TFLOP/s; T4: 65 → 8.1, datasheets).
PRE_AMPERE_FP32_RATIO = 1 / 8
# CUDA-core fp32 GEMMs (no tensor cores) are easy to saturate: ~60 % of peak (calibrated, V100 BERT rows).
CUDA_CORE_FP32_EFFICIENCY = 0.60
# Tensor cores need big matrices: below this hidden size a GEMM's share of peak falls with √(hidden).
FULL_EFFICIENCY_HIDDEN = 4096
# GPU-to-GPU bandwidth a collective really gets (GB/s per GPU): NVLink on SXM boards; PCIe with
# peer-to-peer on datacenter cards; consumer cards have no P2P, so NCCL goes through host memory.
LINK_GB_S_NVLINK = 150.0
LINK_GB_S_PCIE_DATACENTER = 20.0
LINK_GB_S_CONSUMER = 5.0
# Host-to-device bandwidth for paged optimizer state that does not fit on the card (PCIe 4.0 x16).
PCIE_HOST_GB_S = 20.0
# Apple GPUs through PyTorch MPS reach a small share of their fp32 peak in training (no fused
# attention, eager kernels); CPUs reach ~30 % of their theoretical FP32 peak in PyTorch GEMMs.
MPS_EFFICIENCY = 0.25
CPU_EFFICIENCY = 0.30


@dataclass(frozen=True)
class ComputeTarget:
    """A device as the time model sees it."""

    name: str
    kind: str
    peak_tflops: float
    bandwidth_gb_s: float
    efficiency: float
    approximate: bool = False
    tensor_cores: bool = True
    memory_gib: float = 0.0
    link_gb_s: float = 0.0

    def efficiency_for(self, hidden_size: int) -> float:
        """Share of peak for a model of this width (tensor cores lose efficiency on small GEMMs)."""
        if not self.tensor_cores:
            return self.efficiency
        return self.efficiency * min(1.0, (hidden_size / FULL_EFFICIENCY_HIDDEN) ** 0.5)


    @property
    def effective_bandwidth(self) -> float:
        return self.bandwidth_gb_s * 1e9 * BANDWIDTH_EFFICIENCY


def matmul_efficiency(architecture: str) -> float:
    """Efficiency for a catalog architecture label ('Hopper + Grace CPU', 'Ampere (consumer)', …)."""
    if architecture in MATMUL_EFFICIENCY_BY_ARCH:
        return MATMUL_EFFICIENCY_BY_ARCH[architecture]
    family = architecture.split()[0] if architecture else ""
    return MATMUL_EFFICIENCY_BY_ARCH.get(family, DEFAULT_MATMUL_EFFICIENCY)


def gpu_target(gpu: GpuSpec, precision: str) -> ComputeTarget:
    """A GPU at a training precision (bf16 falls back to fp16 on cards without bf16)."""
    tflops = gpu.tensor_tflops(precision)
    efficiency, tensor_cores = matmul_efficiency(gpu.architecture), True
    if precision == "fp32" and gpu.architecture in ("Volta", "Turing"):  # bf16-mixed computes in bf16
        tflops = (gpu.fp16_tflops or 0) * PRE_AMPERE_FP32_RATIO
        efficiency, tensor_cores = CUDA_CORE_FP32_EFFICIENCY, False
    return ComputeTarget(gpu.name, "gpu", tflops or 1.0, gpu.bandwidth_gb_s or 500.0, efficiency,
                         approximate=gpu.compute_assumed or tflops is None, tensor_cores=tensor_cores,
                         memory_gib=gpu.smi_memory_gib, link_gb_s=_link_bandwidth(gpu))


def _link_bandwidth(gpu: GpuSpec) -> float:
    if gpu.consumer:
        return LINK_GB_S_CONSUMER
    form = gpu.architecture + " " + gpu.name
    if "PCIe" in gpu.name or gpu.name in ("L4", "L40S", "A10", "A10G", "T4", "A40", "RTXA6000", "RTX6000-Ada",
                                          "RTXPRO6000", "RTX6000"):
        return LINK_GB_S_PCIE_DATACENTER
    return LINK_GB_S_NVLINK if form else LINK_GB_S_PCIE_DATACENTER


def mac_target(chip: "AppleChip") -> ComputeTarget:
    return ComputeTarget(f"Apple {chip.name}", "mac", chip.fp32_tflops, chip.bandwidth_gb_s, MPS_EFFICIENCY,
                         approximate=True, tensor_cores=False)


def cpu_target(cpu: "CpuSpec") -> ComputeTarget:
    return ComputeTarget(cpu.name, "cpu", cpu.fp32_gflops / 1000, cpu.bandwidth_gb_s, CPU_EFFICIENCY,
                         approximate=True, tensor_cores=False)
