"""The one place a run's shape (nodes × processes per node, the sharding engine) becomes a command.

One plain ``python sft.py`` on a machine with several GPUs makes the HF Trainer fall back to
``nn.DataParallel``: one process, the model on GPU 0, no sharding. A distributed run needs one process per
GPU, started by torch's own launcher (``python -m torch.distributed.run``, i.e. torchrun). This module
builds that launcher's arguments for every provider; a provider only supplies the facts of its nodes, by
filling the placeholders ``{node_rank}``, ``{master_addr}`` and ``{master_port}`` (``Bundle.command``:
SkyPilot from its ``SKYPILOT_*`` variables, RunPod from its cluster variables, local with this machine).
Global rank 0 speaks for the run (the templates decide by ``RANK``): with a c10d rendezvous node ranks
come in any order. The result travels in the bundle (``bundle.json`` "launcher"), so a run is started the
same way wherever it lands. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.spec import JobSpec



@dataclass(frozen=True)
class RunShape:
    """How many processes a run starts where, and which engine shares the work between them."""

    nodes: int = 1
    per_node: int = 1
    sharding: str = "none"
    cpu: bool = False
    """CPU processes over gloo (the local rehearsal): no GPU is used even where there is one."""

    @property
    def world_size(self) -> int:
        return self.nodes * self.per_node

    def job_json(self) -> dict:
        """The ``distributed`` block of job.json (CONTRACTS §10)."""
        return {"nodes": self.nodes, "gpus_per_node": self.per_node, "sharding": self.sharding}


def shape_of(spec: JobSpec, gpus_per_node: int | None = None, priced_sharding: str = "none") -> RunShape:
    """The run's shape from its spec: ``resources.cpu_processes`` (a CPU rehearsal) or the GPUs per node the
    launch was priced with (``gpus_per_node``, else ``resources.gpus``), on ``resources.nodes`` machines. The
    engine is the spec's; where it names none, the one the estimate assumed (FSDP when one GPU cannot hold
    the job: DDP there would run out of memory), else DDP."""
    r = spec.resources
    if r.cpu_processes:
        return RunShape(r.nodes, r.cpu_processes, r.sharding, cpu=True)
    per_node = max(1, gpus_per_node if gpus_per_node is not None else r.gpus)
    sharding = r.sharding
    if sharding == "none" and per_node * r.nodes > 1:
        sharding = priced_sharding if priced_sharding not in ("", "none") else "ddp"
    return RunShape(r.nodes, per_node, sharding)


def launcher_args(shape: RunShape) -> tuple[str, ...]:
    """What goes between the Python interpreter and the template: nothing for one process; torchrun with one
    process per GPU (or per CPU process) otherwise. On one node the rendezvous is local (``--standalone``);
    across nodes it is static: every node names the head's address and its own rank."""
    if shape.world_size == 1:
        return ()
    head = ("-m", "torch.distributed.run", "--nproc_per_node", str(shape.per_node))
    if shape.nodes == 1:
        return (*head, "--standalone")
    return (*head, "--nnodes", str(shape.nodes), "--node_rank", "{node_rank}", "--master_addr", "{master_addr}",
            "--master_port", "{master_port}")
