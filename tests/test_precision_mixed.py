"""Issue 16: ``bf16-mixed`` (fp32 master weights + bf16 autocast) beside pure ``bf16``, in the estimator, the
stacks that load full fine-tunes in fp32, the config importers and the templates' load dtype."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from planner.estimate.memory import autocast_weight_copies, estimate_memory
from planner.estimate.setup import TrainingSetup
from planner.estimate.stacks import with_stack
from planner.models import resolve_local
from planner.spec import load_spec
from planner.units import GIB
from templates.source import ml_common
from tests.cli_inprocess import run_cli

LLAMA8B = resolve_local("meta-llama/Llama-3.1-8B").arch
PARAMS = 8_030_261_248
CONFIGS = Path(__file__).parent / "fixtures" / "foreign_configs"


def test_bf16_mixed_keeps_fp32_weights_grads_and_states_by_hand():
    mixed = estimate_memory(LLAMA8B, TrainingSetup(method="full", precision="bf16-mixed"))
    pure = estimate_memory(LLAMA8B, TrainingSetup(method="full", precision="bf16"))
    assert mixed.static.weights == PARAMS * 4 and pure.static.weights == PARAMS * 2
    assert mixed.static.gradients == PARAMS * 4 and mixed.static.optimizer == PARAMS * 8
    assert mixed.nvidia_smi > 1.9 * pure.nvidia_smi - 2 * GIB  # 16 B/param against 8 B/param, plus overheads


def test_bf16_mixed_keeps_a_bf16_copy_of_each_block_weight_for_backward():
    block_linears = sum(lin.weight_params for lin in LLAMA8B.layer_linears) * LLAMA8B.num_layers
    full = TrainingSetup(method="full", precision="bf16-mixed")
    assert autocast_weight_copies(LLAMA8B, full) == 2 * block_linears
    assert autocast_weight_copies(LLAMA8B, TrainingSetup(method="lora", precision="bf16-mixed")) == 2 * block_linears
    assert autocast_weight_copies(LLAMA8B, TrainingSetup(method="qlora", quant="nf4", precision="bf16-mixed")) == 0
    assert autocast_weight_copies(LLAMA8B, TrainingSetup(method="full", precision="bf16")) == 0


def test_hf_legacy_loads_a_full_fine_tune_in_fp32_unless_the_precision_is_given():
    full = TrainingSetup(method="full")
    assert with_stack(full, "hf-legacy").precision == "bf16-mixed"
    assert with_stack(full, "hf-legacy", precision_given=True).precision == "bf16"
    assert with_stack(TrainingSetup(method="lora"), "hf-legacy").precision == "bf16"
    assert with_stack(full, "axolotl").precision == "bf16"  # axolotl loads in torch_dtype = bf16


def test_the_cli_plans_bf16_mixed_and_says_what_the_stack_assumes(capsys):
    args = ("plan", "--model", "meta-llama/Llama-3.1-8B", "--method", "full", "--gpu", "H200", "--json")
    code, legacy, err = run_cli(capsys, *args, "--stack", "hf-legacy")
    assert code == 0, err
    legacy = json.loads(legacy)
    assert legacy["job"]["precision"] == "bf16-mixed" and "fp32" in legacy["stack_assumes"]
    _, pure, _ = run_cli(capsys, *args, "--stack", "hf-legacy", "--precision", "bf16")
    assert json.loads(pure)["job"]["precision"] == "bf16"
    assert legacy["peak_vram_gib"] > 1.8 * json.loads(pure)["peak_vram_gib"]
    code, out, _ = run_cli(capsys, "plan", "--model", "meta-llama/Llama-3.1-8B", "--method", "full",
                           "--precision", "bf16-mixed", "--gpu", "H200")
    assert code == 0 and "bf16-mixed" in out and "Stack:" in out


def test_a_llama_factory_full_fine_tune_is_bf16_mixed_unless_pure_bf16(tmp_path):
    spec = load_spec(CONFIGS / "llama-factory-full.yaml")
    assert spec.method == "full" and spec.training.precision == "bf16-mixed"
    assert spec.training.stack == "llama-factory" and spec.resources.sharding == "none"
    assert any("--gpus N --sharding zero3" in note for note in spec._import_notes)
    raw = yaml.safe_load((CONFIGS / "llama-factory-full.yaml").read_text())
    (tmp_path / "pure.yaml").write_text(yaml.safe_dump({**raw, "pure_bf16": True}))
    assert load_spec(tmp_path / "pure.yaml").training.precision == "bf16"


def test_a_trl_config_loading_float32_is_bf16_mixed(tmp_path):
    raw = yaml.safe_load((CONFIGS / "trl-sft.yaml").read_text())
    (tmp_path / "fp32.yaml").write_text(yaml.safe_dump({**raw, "dtype": "float32", "bf16": True}))
    assert load_spec(tmp_path / "fp32.yaml").training.precision == "bf16-mixed"


def _torch(bf16_supported: bool):
    return SimpleNamespace(bfloat16="bf16", float16="fp16", float32="fp32",
                           cuda=SimpleNamespace(is_available=lambda: True, is_bf16_supported=lambda: bf16_supported),
                           backends=SimpleNamespace(mps=None))


@pytest.mark.parametrize("precision, method, bf16_card, expected", [
    ("bf16", "full", True, "bf16"), ("bf16-mixed", "full", True, "fp32"), ("bf16-mixed", "lora", True, "fp32"),
    ("bf16-mixed", "full", False, "fp32"), ("fp16", "lora", False, "fp16"), ("fp16", "full", False, "fp32"),
])
def test_the_templates_load_weights_in_the_dtype_the_plan_assumed(precision, method, bf16_card, expected):
    torch = _torch(bf16_card)
    device, bf16, fp16 = ml_common.device_plan(torch, precision)
    assert device == "cuda" and (bf16 or fp16)  # either way the matmuls run in 16 bits under autocast
    cfg = {"training.precision": precision, "method": method}
    assert ml_common.weights_dtype(torch, cfg, bf16, fp16) == expected


def test_deepspeed_keeps_bf16_weights_and_its_fp32_masters_in_the_optimizer_state():
    zero3 = TrainingSetup(method="full", precision="bf16-mixed", gpus=8, sharding="zero3")
    m = estimate_memory(LLAMA8B, zero3)
    assert m.static.weights == PARAMS * 2 / 8 and m.static.optimizer == PARAMS * 12 / 8


def test_fused_kernels_speed_up_the_step_by_their_published_factor_not_the_optimizer_or_network():
    from planner.catalog.gpus import find_gpu
    from planner.estimate.devices import gpu_target
    from planner.estimate.timing import KERNEL_THROUGHPUT_GAIN, step_seconds

    target = gpu_target(find_gpu("A100-80GB"), "bf16")
    plain = TrainingSetup(method="qlora", quant="nf4", seq_len=2048, micro_batch=2)
    base = step_seconds(LLAMA8B, plain, target, 2048)
    for kernels in ("liger", "unsloth"):
        faster = step_seconds(LLAMA8B, replace(plain, kernels=kernels), target, 2048)
        assert 1.0 < base / faster <= KERNEL_THROUGHPUT_GAIN[kernels]
