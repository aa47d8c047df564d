"""Catalog lookups: canonical GPU names, provider spellings and their traps, model aliases."""

from __future__ import annotations

import pytest

from planner.catalog.devices import apple_chips, cpus, find_apple_chip
from planner.catalog.gpus import find_gpu, gpu_catalog, provider_gpu_name
from planner.catalog.models import find_catalog_model
from planner.errors import NotFound


def test_card_memory_is_what_nvidia_smi_reports():
    assert find_gpu("H100").smi_memory_gib == pytest.approx(79.6, abs=0.1)
    assert find_gpu("A100").memory_gb == 40 and find_gpu("A100-80GB").memory_gb == 80


@pytest.mark.parametrize("canonical, provider, expected", [
    ("H100-PCIe", "skypilot-runpod", "H100"),     # RunPod's "H100" is the PCIe card
    ("H100", "skypilot-runpod", "H100-SXM"),
    ("A100-80GB-PCIe", "skypilot-runpod", "A100-80GB"),
    ("A100-80GB", "skypilot-runpod", "A100-80GB-SXM"),
    ("RTXA6000", "lambda", "A6000"),
    ("A10", "modal", "A10"),
    ("A10G", "modal", None),                        # Modal's A10 is not AWS's A10G
    ("A100", "modal", "A100-40GB"),
])
def test_provider_names_translate_only_through_the_table(canonical, provider, expected):
    assert provider_gpu_name(canonical, provider) == expected


def test_aliases_and_did_you_mean():
    assert find_gpu("rtx 4090").name == "RTX4090"
    assert find_gpu("NVIDIA H100 80GB HBM3").name == "H100"
    with pytest.raises(NotFound, match="did you mean 'H100'"):
        find_gpu("H10")


def test_every_gpu_has_memory_and_bandwidth():
    for gpu in gpu_catalog().values():
        assert gpu.smi_memory_gib > 10 and gpu.bandwidth_gb_s


def test_model_aliases_resolve_to_canonical_ids():
    assert find_catalog_model("bert-base-uncased").hf_id == "google-bert/bert-base-uncased"
    assert find_catalog_model("llama-3.1-8b-instruct").hf_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert find_catalog_model("no/such-model") is None


def test_apple_and_cpu_catalogs():
    assert len(apple_chips()) == 16 and len(cpus()) == 9
    ultra = find_apple_chip("M3 Ultra")
    assert ultra.max_memory_gb == 512 and ultra.bandwidth_gb_s == 819
    assert find_apple_chip("M4 Max").gpu_cores == 40
