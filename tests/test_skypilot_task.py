"""The SkyPilot task tuneplan writes: SkyPilot's own loader (``sky.Task.from_yaml``) accepts it for
on-demand, spot, multi-GPU and managed-job runs; GPU names are SkyPilot's, cloud by cloud; the hard
runtime limit is a ``timeout`` on the machine; secrets are names only; and
``tuneplan launch --provider skypilot --dry-run --output task.yaml`` writes it without starting anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from providers.skypilot import SkyPilotProvider, TaskOptions
from providers.skypilot.accelerators import acceptable_resources
from providers.types import LaunchPlan, ProviderError
from remote_jobs.ledger import Ledger
from tests.cli_inprocess import run_cli
from tests.contract.harness import Harness

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_not-a-real-token-1234"
RUN_ID = "yaml-20261126-120000-beef"


def plan(**changes) -> LaunchPlan:
    base = {"run_id": RUN_ID, "owner": "alice", "host": "laptop-1", "max_runtime_s": 5400, "gpu": "L4", "gpus": 1,
            "secrets": ("HF_TOKEN",)}
    return LaunchPlan(**{**base, **changes})


@pytest.fixture()
def written(tmp_path, monkeypatch):
    """Write the task YAML for a plan and load it back with SkyPilot's own loader."""
    import sky

    monkeypatch.setenv("HF_TOKEN", SECRET)
    provider = SkyPilotProvider(TaskOptions(bucket="s3://team-bucket/tuneplan", disk_gib=200))
    bundle = Harness(provider, tmp_path).bundle(RUN_ID)

    def write(the_plan: LaunchPlan):
        path = tmp_path / f"task-{len(list(tmp_path.glob('task-*')))}.yaml"
        path.write_text(provider.render_task(bundle, the_plan))
        return path, yaml.safe_load(path.read_text()), sky.Task.from_yaml(str(path))

    return write


def test_on_demand_task_loads_in_skypilot_with_autodown_limit_labels_and_secret_names(written):
    path, config, task = written(plan())
    resources = next(iter(task.resources))
    assert resources.accelerators == {"L4": 1} and not resources.use_spot and resources.disk_size == 200
    assert resources.labels == {"tuneplan-owner": "alice", "tuneplan-host": "laptop-1", "tuneplan-run": RUN_ID}
    _, _, billed_to = written(plan(project="Vision Team"))
    assert next(iter(billed_to.resources)).labels["tuneplan-project"] == "vision-team", "a cloud bill splits by project"
    assert config["resources"]["autostop"] == {"idle_minutes": 15, "down": True}
    assert task.name == f"tp-{RUN_ID}" and Path(task.workdir).is_dir()
    assert "timeout --signal=TERM --kill-after=60 $left python3 smoke.py" in task.run
    assert config["envs"]["TUNEPLAN_DEADLINE"] == "" and "$(( $(date +%s) + 5400 ))" in task.run  # hand launch
    assert "timeout --signal=TERM --kill-after=60 $left python3 -m pip install" in task.setup
    assert "pip install" in task.setup and "requirements.txt" in task.setup
    assert config["secrets"] == {"HF_TOKEN": None} and "HF_TOKEN" not in config["envs"]
    assert SECRET not in path.read_text()


def test_spot_task_is_a_managed_job_with_its_output_in_the_bucket(written):
    _, config, task = written(plan(spot=True))
    resources = next(iter(task.resources))
    assert resources.use_spot and "autostop" not in config["resources"]
    assert config["file_mounts"] == {"/tuneplan-outputs": {"source": "s3://team-bucket/tuneplan", "mode": "MOUNT_CACHED"}}
    assert task.storage_mounts["/tuneplan-outputs"].source == "s3://team-bucket/tuneplan"
    assert f"ln -sfn /tuneplan-outputs/tp-{RUN_ID} out" in task.run


def test_multi_gpu_task_names_each_clouds_own_card(written):
    _, config, task = written(plan(gpu="H100", gpus=8))
    chosen = {(str(r.cloud), r.accelerators["H100" if "H100" in r.accelerators else "H100-SXM"]) for r in task.resources}
    assert ("RunPod", 8) in chosen and ("AWS", 8) in chosen
    runpod = [r for r in task.resources if str(r.cloud) == "RunPod"]
    assert [r.accelerators for r in runpod] == [{"H100-SXM": 8}], "RunPod's 'H100' is the PCIe card"


def test_acceptable_gpus_are_pinned_to_the_clouds_we_priced():
    """Issue 23 item 5: plain ``accelerators:`` let the optimizer use any enabled cloud (skypilot.clouds was
    not enforced); every entry now carries ``infra:`` and is an offer our catalog prices."""
    entries = acceptable_resources(["A10G", "L4", "T4"], 1, ("aws", "gcp", "runpod"))["any_of"]
    assert {"infra": "aws", "accelerators": "A10G:1"} in entries and {"infra": "gcp", "accelerators": "L4:1"} in entries
    assert all(entry["infra"] in ("aws", "gcp", "runpod") for entry in entries)
    assert {"infra": "gcp", "accelerators": "A10G:1"} not in entries, "GCP has no A10G: not a priced offer"
    mixed = acceptable_resources(["A100-80GB", "L40S"], 2, ("aws", "runpod"))
    assert {"infra": "runpod", "accelerators": "A100-80GB-SXM:2"} in mixed["any_of"]
    with pytest.raises(ValueError, match="GH200"):
        acceptable_resources(["GH200"], 1, ("runpod",))


def test_the_spec_gpu_list_and_hourly_cap_reach_the_task(tmp_path):
    import sky

    provider = SkyPilotProvider(TaskOptions(clouds=("aws", "gcp")))
    bundle = Harness(provider, tmp_path).bundle(RUN_ID, resources={"gpu": ["L4", "A10G"], "max_usd_per_hour": 1.5})
    config = provider.task_dict(bundle, plan(secrets=()))
    assert "accelerators" not in config["resources"]
    offered = {(entry["infra"], entry["accelerators"]) for entry in config["resources"]["any_of"]}
    assert {("aws", "L4:1"), ("gcp", "L4:1"), ("aws", "A10G:1")} <= offered
    assert config["resources"]["max_hourly_cost"] == 1.5 and "secrets" not in config
    loaded = sky.Task.from_yaml_config(config).resources
    assert {(str(r.cloud), next(iter(r.accelerators))) for r in loaded} >= {("AWS", "L4"), ("GCP", "L4"), ("AWS", "A10G")}
    assert {str(r.cloud) for r in loaded} == {"AWS", "GCP"}, "no cloud outside skypilot.clouds"


def test_spot_without_a_bucket_is_a_one_line_error(tmp_path):
    provider = SkyPilotProvider(TaskOptions())
    bundle = Harness(provider, tmp_path).bundle(RUN_ID)
    with pytest.raises(ProviderError, match="skypilot.bucket"):
        provider.render_task(bundle, plan(spot=True))


def test_launch_dry_run_writes_the_task_and_starts_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    out_file = tmp_path / "task.yaml"
    spec = ROOT / "examples" / "tiny-smoke.yaml"
    code, out, err = run_cli(capsys, "launch", str(spec), "--provider", "skypilot", "--dry-run", "--output",
                             str(out_file), "--set", "secrets=[\"HF_TOKEN\"]", "--runs-dir", str(tmp_path / "runs"))
    assert code == 0, err
    assert "wrote" in out and "sky launch -c tp-tiny-smoke-" in out and "--secret HF_TOKEN" in out
    assert '--env "TUNEPLAN_DEADLINE=$(( $(date +%s) + ' in " ".join(out.split())
    text = out_file.read_text()
    assert SECRET not in text and SECRET not in out and "HF_TOKEN: null" in text
    import sky

    task = sky.Task.from_yaml(str(out_file))
    assert task.name.startswith("tp-tiny-smoke-") and (Path(task.workdir) / "smoke.py").is_file()
    assert Ledger().runs() == [], "a dry run records nothing"
    code, out, _ = run_cli(capsys, "launch", str(spec), "--provider", "skypilot", "--dry-run",
                           "--runs-dir", str(tmp_path / "runs"))
    assert code == 0 and "run: |" in out and "timeout --signal=TERM" in out


def test_dry_run_needs_a_provider_with_a_task_file(capsys):
    code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--dry-run")
    assert code == 2 and "has nothing to create" in err
    code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--output", "x.yaml")
    assert code == 2 and "add --dry-run" in err


def test_importing_the_provider_does_not_import_sky():
    code = "import sys, providers.skypilot, providers.registry; print('sky' in sys.modules)"
    done = subprocess.run([__import__("sys").executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr


def test_settings_section_reaches_the_provider(monkeypatch):
    from providers.skypilot import make_provider

    monkeypatch.setenv("TUNEPLAN_SKYPILOT__BUCKET", "gs://team/tuneplan")
    monkeypatch.setenv("TUNEPLAN_SKYPILOT__IDLE_MINUTES", "5")
    options = make_provider().options
    assert options.bucket == "gs://team/tuneplan" and options.idle_minutes == 5 and "runpod" in options.clouds


def test_listing_for_reap_never_starts_a_local_api_server_and_says_how_to_check(tmp_path):
    """In a fresh interpreter (SkyPilot caches its server URL per process), with a private port and runtime dir:
    no server answers, so listing is a ProviderError (reap shows "unchecked"), never "nothing there"."""
    import os
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HOME": str(tmp_path / "home"), "SKY_RUNTIME_DIR": str(tmp_path / "runtime"),
           "SKYPILOT_API_SERVER_LOCAL_PORT": str(port), "SKYPILOT_DISABLE_USAGE_COLLECTION": "1"}
    code = ("from providers.skypilot import SkyPilotProvider\nfrom providers.types import ProviderError\n"
            "try:\n    print(SkyPilotProvider().list_resources())\nexcept ProviderError as exc:\n    print('ERROR', exc)")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=120)
        assert done.returncode == 0 and done.stdout.startswith("ERROR "), done.stdout + done.stderr[-2000:]
        assert "`sky api start`" in done.stdout and "not running" in done.stdout
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "an API server was started"
    finally:  # had one been started, it must not outlive the test
        subprocess.run([str(Path(sys.executable).with_name("sky")), "api", "stop"], env=env, capture_output=True,
                       timeout=120)


def _script(tmp_path: Path, **plan_changes) -> tuple[dict, Path]:
    """The task's setup and run for a smoke bundle, ready to run with bash in a copy of the workdir."""
    import shutil
    import sys

    provider = SkyPilotProvider(TaskOptions(python=sys.executable))
    bundle = Harness(provider, tmp_path).bundle(RUN_ID)
    workdir = tmp_path / "machine"
    shutil.copytree(bundle.root, workdir)
    return provider.task_dict(bundle, plan(secrets=(), **plan_changes)), workdir


def _bash(script: str, workdir: Path, deadline: float | None, home: Path) -> tuple[int, str]:
    import os

    env = {"PATH": os.environ["PATH"], "HOME": str(home), "TUNEPLAN_DEADLINE": "" if deadline is None else str(int(deadline))}
    done = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_a_step_that_starts_past_the_deadline_exits_at_once_with_the_limit_line(tmp_path):
    """A managed job's recovery reruns setup and run with the same envs: past the absolute deadline, nothing runs."""
    import time

    config, workdir = _script(tmp_path)
    for step in ("setup", "run"):
        code, out = _bash(config[step], workdir, time.time() - 5, tmp_path)
        assert code == 124 and 'TUNEPLAN_LIMIT {"limit_s": 5400}' in out, out
    assert not (workdir / "out").exists(), "the template never started"


def test_the_limit_holds_during_setup_and_only_124_reads_as_the_limit(tmp_path):
    import time

    config, workdir = _script(tmp_path)
    (workdir / "requirements.txt").write_text("some-package==1.0\n")
    slow = tmp_path / "python-that-hangs"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    setup = config["setup"].replace(__import__("sys").executable, str(slow))
    code, out = _bash(setup, workdir, time.time() + 1, tmp_path)  # pip "hangs": timeout ends it at the deadline
    assert code == 124 and "TUNEPLAN_LIMIT" in out, out

    oom = tmp_path / "python-killed"  # the kernel's OOM killer: SIGKILL long before the deadline
    oom.write_text("#!/bin/sh\nkill -9 $$\n")
    oom.chmod(0o755)
    run = config["run"].replace(__import__("sys").executable, str(oom))
    code, out = _bash(run, workdir, time.time() + 3600, tmp_path)
    assert code == 137 and "TUNEPLAN_KILLED" in out and "TUNEPLAN_LIMIT" not in out, out


def test_a_hand_launched_task_fixes_its_deadline_once_for_setup_and_run(tmp_path):
    config, workdir = _script(tmp_path, max_runtime_s=0)
    code, out = _bash(config["setup"], workdir, None, tmp_path)  # no env deadline: the first step fixes it
    assert code == 124 and "TUNEPLAN_LIMIT" in out
    assert (tmp_path / f".tuneplan-deadline-{RUN_ID}").read_text().strip().isdigit()


def test_owner_and_host_labels_are_valid_on_every_cloud_and_reap_still_knows_them(written):
    """An OS user ``John.Doe`` went raw into a label: GCP refuses capitals and dots, and SkyPilot checks the
    labels against every enabled cloud (``Resources._try_validate_labels``), so the launch failed."""
    from sky.clouds import AWS, GCP, Azure, Kubernetes

    from providers.skypilot.task_config import label_value
    from providers.types import Resource, RunHandle, RunState

    owner, host = "John.Doe", "Ana's MacBook-Pro.local"
    _, config, task = written(plan(owner=owner, host=host))
    labels = next(iter(task.resources)).labels
    assert labels["tuneplan-owner"] == "john-doe"
    for cloud in (GCP, Kubernetes, AWS, Azure):
        for key, value in labels.items():
            assert cloud.is_label_valid(key, value) == (True, None), (cloud, key, value)
    found = Resource(f"tp-{RUN_ID}", f"tp-{RUN_ID}", RUN_ID, labels, RunState.RUNNING,
                     RunHandle("skypilot", RUN_ID, f"tp-{RUN_ID}"), tag_form=label_value)
    assert found.owned_by(owner, host) and not found.owned_by("john", host)


def test_the_credential_check_names_the_extra_a_cloud_needs(tmp_path, monkeypatch):
    """``tuneplan[skypilot]`` is bare SkyPilot: without boto3 it cannot launch on AWS whatever the credentials."""
    from providers.skypilot import sdk
    from tests.contract.fake_sky import FakeSky

    monkeypatch.setitem(sdk.CLOUD_SDK_MODULES, "aws", "tuneplan_test_no_such_module")  # as where boto3 is missing
    only_aws = SkyPilotProvider(TaskOptions(clouds=("aws",)), sdk_module=FakeSky(tmp_path)).check()
    assert not only_aws.ok and "aws" in only_aws.message and "tuneplan[skypilot-aws]" in only_aws.fix
    with_lambda = SkyPilotProvider(TaskOptions(clouds=("aws", "lambda")), sdk_module=FakeSky(tmp_path)).check()
    assert with_lambda.ok and "only lambda" in with_lambda.message


def test_the_hourly_cap_follows_the_priced_rate(written):
    """Without a cap the optimizer may pick any enabled cloud's offer, dearer than the one the plan priced."""
    from decimal import Decimal

    _, config, task = written(plan(usd_per_hour=Decimal("2.64")))
    assert config["resources"]["max_hourly_cost"] == 2.91  # 2.64 × 1.10, rounded up to the cent
    assert next(iter(task.resources)).accelerators == {"L4": 1}


def test_the_launched_machine_is_read_from_the_record_as_literals_only():
    from decimal import Decimal

    from providers.skypilot.launched import launched_on

    cluster = {"cloud": "GCP", "region": "us-east4", "accelerators": "{'L4': 1}",
               "resources_str_full": "1x(gpus=L4:1, cpus=4, mem=16, g2-standard-4, disk=100)"}
    machine = launched_on(cluster, spot=False)
    assert (machine.cloud, machine.region, machine.gpu, machine.gpus) == ("gcp", "us-east4", "L4", 1)
    assert machine.usd_per_hour == Decimal("0.70452") and "g2-standard-4" in machine.source
    spot = launched_on({"cloud": "AWS", "region": "us-east-2", "accelerators": {"L4": 1},
                        "cluster_resources_full": "1x(gpus=L4:1, g6.xlarge, ...)"}, spot=True)
    assert spot.usd_per_hour == Decimal("0.2599")  # the spot rate of the launched instance type
    for hostile in ("__import__('os').system('id')", "{'L4': 10**100}", "[" * 10_000, "{'L4': -1}", None):
        assert launched_on({"cloud": "AWS", "accelerators": hostile}, spot=False) is None
    unknown = launched_on({"cloud": "Kubernetes", "accelerators": {"L4": 1}}, spot=False)
    assert unknown.usd_per_hour is None and unknown.gpu == "L4"


def test_a_two_node_task_loads_in_skypilot_and_each_node_finds_the_head(tmp_path):
    """Issue 14: nodes × GPUs become ``num_nodes`` and ``accelerators: X:N``; every node starts the bundle's
    torchrun command with its rank and the head's address from SkyPilot's variables (0.14: SKYPILOT_NODE_RANK,
    SKYPILOT_NODE_IPS one per line, head first)."""
    import subprocess
    from dataclasses import replace

    import sky

    from providers.skypilot.task_config import job_command
    from remote_jobs.distributed import RunShape, launcher_args

    provider = SkyPilotProvider(TaskOptions(clouds=("aws", "gcp")))
    bundle = replace(Harness(provider, tmp_path).bundle(RUN_ID), launcher=launcher_args(RunShape(2, 8, "fsdp")))
    path = tmp_path / "task.yaml"
    path.write_text(provider.render_task(bundle, plan(gpu="H100", gpus=8, secrets=())))
    task = sky.Task.from_yaml(str(path))
    assert task.num_nodes == 2
    assert {next(iter(r.accelerators.values())) for r in task.resources} == {8}
    assert "-m torch.distributed.run --nproc_per_node 8 --nnodes 2" in task.run
    facts, command = job_command(bundle, "python3")
    script = "\n".join([*facts, 'echo "$TUNEPLAN_NODE_RANK $TUNEPLAN_MASTER_ADDR"'])
    env = {"PATH": "/usr/bin:/bin", "SKYPILOT_NODE_RANK": "1", "SKYPILOT_NODE_IPS": "10.0.0.7\n10.0.0.9"}
    assert subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True).stdout == "1 10.0.0.7\n"
    assert '--node_rank "$TUNEPLAN_NODE_RANK" --master_addr "$TUNEPLAN_MASTER_ADDR"' in command


def test_a_two_node_dry_run_over_budget_writes_the_task_and_says_what_a_launch_would_refuse(capsys, tmp_path):
    """A dry run starts nothing, so it shows the task even when the estimate is over the cap (a real launch still
    refuses); a Hub model this machine cannot reach (offline here) is a note for a remote launch, not a refusal."""
    out_file = tmp_path / "task.yaml"
    code, out, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-sft.yaml"), "--provider", "skypilot",
                             "--dry-run", "--output", str(out_file), "--nodes", "2", "--set", "model=Qwen/Qwen2.5-7B-Instruct",
                             "--set", "resources.gpu=H100", "--set", "resources.gpus=8",
                             "--set", "resources.sharding=fsdp", "--runs-dir", str(tmp_path / "runs"))
    assert code == 0, err
    flat = " ".join(out.split())
    assert "exceeds max_total_usd" in flat and "--allow-over-budget" in flat
    assert "could not load the model here" in flat
    text = out_file.read_text()
    assert "num_nodes: 2" in text and "SKYPILOT_NODE_RANK" in text and "--nnodes 2" in text
    code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-sft.yaml"), "--provider", "skypilot",
                           "--yes", "--nodes", "2", "--no-validate", "--set", "resources.gpu=H100",
                           "--set", "resources.gpus=8", "--set", "resources.sharding=fsdp",
                           "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and "exceeds max_total_usd" in err  # a real launch refuses before anything is built
