"""A Modal run on several machines (issue 14): a ``@modal.clustered`` function checked through the SDK's own
offline definition, and its body run as two "containers" (two processes sharing one Volume folder) that meet
through torchrun with the rank and address Modal's cluster context gives each of them.

The cluster context is the SDK's own object (``modal._cluster.ClusterContext``), set where Modal's container
runtime sets it (``modal._cluster.current_cluster_context``) before the call; the body reads it through
``modal.experimental.get_cluster_info`` as it does in a real cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from planner.errors import BadInput
from planner.recommend.capabilities import launchable
from providers.modal.app import BUNDLE_PATH, VOLUME_PATH, build_app
from providers.settings import ModalSettings
from remote_jobs.bundle import seal_bundle
from remote_jobs.distributed import RunShape, launcher_args
from tests.test_modal import RUN_ID, _plan, _sft_like_bundle

ROOT = Path(__file__).resolve().parents[1]

# Every rank adds its global rank into one all_reduce: with 2 nodes × 1 process the sum is 0 + 1 = 1, which
# only a real process group spanning both "containers" can produce. Rank 0 alone writes the output.
MEET = """
import json, os, sys
import torch
import torch.distributed as dist
dist.init_process_group("gloo")
total = torch.tensor([float(dist.get_rank())])
dist.all_reduce(total)
facts = {"rank": dist.get_rank(), "world": dist.get_world_size(), "sum": total.item(),
         "node_rank": int(os.environ["GROUP_RANK"])}
print("met", json.dumps(facts), flush=True)
if dist.get_rank() == 0:
    os.makedirs("out", exist_ok=True)
    json.dump(facts, open("out/met.json", "w"))
dist.destroy_process_group()
"""

CONTAINER = """
import json, os, sys
from pathlib import Path
from modal import _cluster
from providers.modal.app import build_app, local_job
from providers.settings import ModalSettings
from providers.types import Bundle, LaunchPlan
rank = int(sys.argv[1])
_cluster.current_cluster_context = _cluster.ClusterContext(
    rank=rank, cluster_id="cu-test", container_ips=["::1", "::1"], container_ipv4_ips=["127.0.0.1", "127.0.0.1"],
    fabric_ids=[])
spec = json.loads(sys.argv[2])
fields = {**spec["bundle"], "root": Path(spec["bundle"]["root"]), "tarball": Path(spec["bundle"]["tarball"]),
          "args": tuple(spec["bundle"]["args"]), "launcher": tuple(spec["bundle"]["launcher"])}
built = build_app(Bundle(**fields), LaunchPlan(**spec["plan"]), ModalSettings())
job = {**local_job(built), "master_port": spec["port"]}
print("RESULT", json.dumps(built.function.local(job)), flush=True)
"""


def test_two_machines_are_one_clustered_function_with_all_gpus_of_each_host(tmp_path):
    bundle = replace(_sft_like_bundle(tmp_path), launcher=launcher_args(RunShape(2, 8, "fsdp")))
    built = build_app(bundle, _plan(gpus=8, nodes=2), ModalSettings())
    info = built.function.info()  # the SDK's own definition, offline
    assert info.gpus == [("H100", 8)]
    assert info.cluster_info is not None and info.cluster_info.size == 2 and info.cluster_info.rdma
    assert built.job["nodes"] == 2 and "{node_rank}" in built.job["launcher"]


def test_what_modal_clusters_cannot_run_is_refused_with_the_reason(tmp_path):
    assert launchable("modal", 8, False, nodes=2) == (True, "")
    ok, why = launchable("modal", 4, False, nodes=2)
    assert not ok and "all 8 GPUs of every machine" in why
    ok, why = launchable("modal", 8, False, nodes=16)
    assert not ok and "up to 8" in why
    cpu_two = replace(_sft_like_bundle(tmp_path), launcher=launcher_args(RunShape(2, 1, "ddp", cpu=True)))
    with pytest.raises(BadInput, match="GPU machines only"):
        build_app(cpu_two, _plan(gpu="cpu", gpus=0, nodes=2), ModalSettings())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_containers_meet_through_torchrun_and_only_rank_0_speaks_for_the_run(tmp_path):
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "meet.py").write_text(MEET, encoding="utf-8")
    bundle = seal_bundle(root, RUN_ID, "sft", "meet.py", (), output_dir="out",
                         launcher=launcher_args(RunShape(2, 1, "ddp")))
    container = tmp_path / "container"  # one folder stands for the Volume both containers mount
    (container / BUNDLE_PATH.lstrip("/")).parent.mkdir(parents=True)
    shutil.copyfile(bundle.tarball, container / BUNDLE_PATH.lstrip("/"))
    plan = {"run_id": RUN_ID, "owner": "alice", "host": "lab", "max_runtime_s": 600, "gpu": "H100", "gpus": 1,
            "nodes": 2}
    fields = {f.name: getattr(bundle, f.name) for f in dataclasses.fields(bundle)}
    spec = {"bundle": {**fields, "root": str(bundle.root), "tarball": str(bundle.tarball), "files": []},
            "plan": plan, "port": _free_port()}
    env = {**os.environ, "TUNEPLAN_CONTAINER_ROOT": str(container), "PYTHONPATH": str(ROOT)}
    env.pop("MODAL_TASK_ID", None)
    procs = [subprocess.Popen([sys.executable, "-c", CONTAINER, str(rank), json.dumps(spec, default=list)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    results = [json.loads(out.rsplit("RESULT ", 1)[1]) for out in outputs]
    assert [r["state"] for r in results] == ["succeeded", "succeeded"], outputs
    assert [r["node"] for r in results] == [0, 1]
    run_dir = container / VOLUME_PATH.lstrip("/") / f"tp-{RUN_ID}"
    met = json.loads((run_dir / "work" / "out" / "met.json").read_text())
    assert met == {"rank": 0, "world": 2, "sum": 1.0, "node_rank": 0}
    assert json.loads((run_dir / "segment-0.json").read_text())["node"] == 0
    assert json.loads((run_dir / "segment-0-node1.json").read_text())["node"] == 1
    node1_log = "".join(p.read_text() for p in sorted((run_dir / "log-node1").glob("part-*")))
    assert '"rank": 1' in node1_log and '"node_rank": 1' in node1_log
    rank0_log = "".join(p.read_text() for p in sorted((run_dir / "log").glob("part-*")))
    assert '"rank": 1' not in rank0_log
