"""Distributed runs at each cloud launcher's boundary (issue 14): Modal puts several GPUs in one container and
starts the bundle's torchrun there; RunPod asks for ``gpuCount`` and its pod agent starts torchrun, and refuses a
run on several machines in one line (SkyPilot's multi-node task is in test_skypilot_task.py, Modal's clusters in
test_modal_cluster.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from providers.modal.app import build_app
from providers.settings import ModalSettings
from providers.types import ProviderError
from tests.test_modal import _plan, _sft_like_bundle
from tests.test_runpod_api import fake, gpu_plan, harness  # noqa: F401, F811  (fixtures)


def test_several_gpus_in_one_container_start_torchrun(tmp_path):
    """Issue 14: ``gpu="H100:2"`` in one container, the segment starting the bundle's torchrun command (several
    machines are a clustered function: test_modal_cluster.py)."""
    from remote_jobs.distributed import RunShape, launcher_args

    bundle = replace(_sft_like_bundle(tmp_path), launcher=launcher_args(RunShape(1, 2, "fsdp")))
    built = build_app(bundle, _plan(), ModalSettings())
    assert built.function.info().gpus == [("H100", 2)]
    assert built.job["launcher"] == ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    assert built.function.info().cluster_info is None


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
