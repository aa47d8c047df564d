"""Distributed runs at each cloud launcher's boundary (issue 14): Modal puts several GPUs in one container and
starts the bundle's torchrun there; RunPod asks for ``gpuCount`` and its pod agent starts torchrun; both refuse a
run on several machines in one line (SkyPilot's multi-node task is in test_skypilot_task.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from providers.modal.app import build_app
from providers.settings import ModalSettings
from providers.types import ProviderError
from tests.test_modal import _plan, _sft_like_bundle
from tests.test_runpod_api import fake, gpu_plan, harness  # noqa: F401, F811  (fixtures)


def test_several_gpus_in_one_container_start_torchrun_and_several_nodes_are_refused(tmp_path):
    """Issue 14: ``gpu="H100:2"`` in one container, the segment starting the bundle's torchrun command; several
    machines are not launchable on Modal (clustered functions are not driven yet), said in one line."""
    from providers.modal.provider import ModalProvider
    from remote_jobs.distributed import RunShape, launcher_args

    bundle = replace(_sft_like_bundle(tmp_path), launcher=launcher_args(RunShape(1, 2, "fsdp")))
    built = build_app(bundle, _plan(), ModalSettings())
    assert built.function.info().gpus == [("H100", 2)]
    assert built.job["launcher"] == ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    two_nodes = replace(bundle, launcher=launcher_args(RunShape(2, 8, "fsdp")))
    with pytest.raises(ProviderError, match="one container per run"):
        ModalProvider(ModalSettings()).launch(two_nodes, _plan())


def test_a_multi_gpu_pod_asks_for_its_gpu_count_and_runs_torchrun(fake, harness, tmp_path):  # noqa: F811
    """Issue 14: ``gpuCount: N`` reaches the API and the pod's agent starts the bundle's torchrun command; a run
    on several machines is refused in one line (Instant Clusters are not driven)."""
    import json as json_module

    from remote_jobs.distributed import RunShape, launcher_args

    run_id = harness.run_id("multi")
    bundle = replace(harness.bundle(run_id, steps=1), launcher=launcher_args(RunShape(1, 4, "ddp")))
    handle = harness.launch(bundle, gpu_plan(harness, run_id, gpus=4))
    request = fake.pods[handle.resource_id].request
    assert request["gpuCount"] == 4
    env = {item["key"]: item["value"] for item in request["env"]}
    assert json_module.loads(env["TUNEPLAN_POD_LAUNCHER"])[:4] == ["-m", "torch.distributed.run", "--nproc_per_node", "4"]
    two_nodes = replace(bundle, launcher=launcher_args(RunShape(2, 4, "ddp")))
    with pytest.raises(ProviderError, match="one pod per run"):
        harness.provider.launch(two_nodes, gpu_plan(harness, harness.run_id("nodes"), gpus=4))
