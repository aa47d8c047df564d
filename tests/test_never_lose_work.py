"""Never lose a trained adapter (issue): re-attaching is safe, ``down`` keeps finished work, every stop keeps
its latest checkpoint and ``resume`` continues from it, ``reap`` never ends a run another ledger knows, and
what a run was is recorded. Each test drives the CLI on the local provider, as a person would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from providers.local import LocalProvider
from providers.types import RunState
from remote_jobs.ledger import Ledger
from tests.cli_inprocess import run_cli
from tests.test_faults import CLI, SMOKE, as_in_a_terminal, assert_story_finished, run

LONG = ("--set", "smoke.step_seconds=0.2", "--set", "training.max_steps=60", "--set", "training.save_steps=1")


def _sigint(args: list[str], after_s: float, ready=None) -> subprocess.CompletedProcess:
    """Run the CLI and send it SIGINT, as a terminal's Ctrl-C does, once ``ready()`` (or after ``after_s``)."""
    proc = subprocess.Popen([*CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=as_in_a_terminal)
    deadline = time.monotonic() + 30
    while ready is not None and not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _running() -> bool:
    runs = Ledger().runs()
    return bool(runs) and runs[0].state == RunState.RUNNING


def _launch_detached(*extra: str) -> str:
    done = run("launch", SMOKE, "--yes", "--detach", *extra)
    assert done.returncode == 0, done.stderr
    return Ledger().runs()[0].run_id


def test_ctrl_c_in_watch_detaches_and_a_later_watch_finishes_the_run():
    run_id = _launch_detached(*LONG)
    interrupted = _sigint(["watch", run_id], 1.0, _running)
    assert interrupted.returncode == 130
    assert "goes on" in interrupted.stderr and f"tuneplan down {run_id}" in interrupted.stderr
    assert Ledger().get(run_id).state == RunState.RUNNING and LocalProvider().list_resources()
    finished = run("watch", run_id)
    assert finished.returncode == 0, finished.stderr
    assert_story_finished(run_id, RunState.SUCCEEDED)


def test_ctrl_c_during_a_launch_without_a_terminal_stops_it_and_keeps_its_checkpoint():
    stopped = _sigint(["launch", SMOKE, "--yes", *LONG], 1.5, _running)
    assert stopped.returncode == 130, stopped.stderr
    record = Ledger().runs()[0]
    assert record.state == RunState.CANCELLED and "kept in" in record.failure_reason
    assert (Path(record.runs_dir) / "checkpoint" / "checkpoints").is_dir()
    assert_story_finished(record.run_id, RunState.CANCELLED)


def test_down_on_a_run_that_already_succeeded_keeps_its_verified_artifacts():
    run_id = _launch_detached("--set", "smoke.step_seconds=0.01")
    deadline = time.monotonic() + 30
    while LocalProvider().status(Ledger().get(run_id).handle).state != RunState.SUCCEEDED:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    done = run("down", run_id)
    assert done.returncode == 0, done.stderr
    record = Ledger().get(run_id)
    assert record.state == RunState.SUCCEEDED and record.artifacts and record.torn_down_at
    assert all((Path(record.runs_dir) / a["path"]).is_file() for a in record.artifacts)


def _wait_for_step(run_id: str, step: int) -> None:
    """Until the running job has logged ``step`` (its checkpoint is written before its progress line)."""
    provider, deadline = LocalProvider(), time.monotonic() + 30
    while True:
        handle = Ledger().get(run_id).handle
        progress = provider.status(handle).progress if handle else None
        if progress and progress.get("step", 0) >= step:
            return
        assert time.monotonic() < deadline, "the job never got there"
        time.sleep(0.1)


def _losses(run_dir: Path) -> dict[int, float]:
    found = {}
    for line in (run_dir / "run.log").read_text().splitlines():
        if line.startswith("TUNEPLAN_PROGRESS "):
            payload = json.loads(line.split(" ", 1)[1])
            found[payload["step"]] = payload["loss"]
    return found


def test_down_keeps_a_checkpoint_and_resume_continues_from_it_with_the_same_curve(capsys):
    run_id = _launch_detached(*LONG)
    _wait_for_step(run_id, 10)
    assert run("down", run_id).returncode == 0
    stopped = Ledger().get(run_id)
    assert stopped.state == RunState.CANCELLED and "checkpoint-" in stopped.failure_reason
    kept = int(stopped.failure_reason.split("checkpoint-")[1].split()[0])
    code, out, err = run_cli(capsys, "resume", run_id, "--yes")
    assert code == 0, err
    resumed = Ledger().runs()[0]
    assert resumed.resumed_from == run_id and resumed.state == RunState.SUCCEEDED
    losses = _losses(Path(resumed.runs_dir))
    assert min(losses) == kept + 1 and max(losses) == 60, "it continued after the kept step, to the end"
    assert all(abs(loss - round(2.0 / step**0.5, 4)) < 1e-9 for step, loss in losses.items()), "the same curve"
    before = _losses(Path(stopped.runs_dir))
    assert all(before[s] == losses[s] for s in set(before) & set(losses))
    code, out, _ = run_cli(capsys, "jobs", resumed.run_id, "--json")
    assert json.loads(out)["resumed_from"] == run_id


def test_a_recorded_job_json_relaunches_as_it_is(capsys):
    run_id = _launch_detached("--set", "smoke.step_seconds=0.01")
    assert run("watch", run_id).returncode == 0
    job_json = Path(Ledger().get(run_id).runs_dir) / "bundle" / "job.json"
    code, _, err = run_cli(capsys, "launch", str(job_json), "--yes")
    assert code == 0, err
    assert Ledger().runs()[0].state == RunState.SUCCEEDED


def test_reap_with_another_ledger_leaves_a_run_the_default_ledger_knows(tmp_path):
    run_id = _launch_detached(*LONG)
    other = tmp_path / "other.sqlite3"
    listing = run("reap", "--yes", "--ledger", str(other))
    assert listing.returncode == 0, listing.stderr
    assert "elsewhere" in listing.stdout and run_id in listing.stdout
    assert not Ledger().get(run_id).finished and Ledger().get(run_id).torn_down_at is None
    assert [r.run_id for r in LocalProvider().list_resources()] == [run_id], "still running"
    run("down", run_id)


def test_reap_asks_before_ending_a_machine_no_ledger_can_place(tmp_path):
    run_id = _launch_detached(*LONG)
    record = Ledger().get(run_id)
    import shutil

    shutil.rmtree(record.runs_dir)  # nothing on this machine places it any more
    other = tmp_path / "other.sqlite3"
    listing = run("reap", "--yes", "--ledger", str(other))
    assert "orphan" in listing.stdout and "left running" in listing.stdout
    assert LocalProvider().list_resources(), "not ended without an answer"
    ended = run("reap", "--yes", "--unplaced", "--ledger", str(other))
    assert "torn down" in ended.stdout and not LocalProvider().list_resources()


def test_a_refused_launch_leaves_no_run_folder_and_gc_removes_what_no_row_needs(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json at all\n")
    code, _, err = run_cli(capsys, "launch", str(Path(SMOKE).parent / "tiny-sft.yaml"), "--yes", "--set",
                           f"data.train={bad}")
    assert code == 2, err
    runs = Path(os.environ["TUNEPLAN_DATA_DIR"]) / "runs"
    assert not any(runs.glob("tiny-sft-*")), "the refused bundle was removed"
    stray = runs / "tiny-smoke-20261101-120000-abcd" / "bundle"
    stray.mkdir(parents=True)
    (stray / "big.bin").write_bytes(b"x" * 5000)
    run_id = _launch_detached("--set", "smoke.step_seconds=0.01")
    assert run("watch", run_id).returncode == 0
    code, out, _ = run_cli(capsys, "gc")
    assert code == 0 and "tiny-smoke-20261101-120000-abcd" in out and "bundle.tar.gz" in out
    assert stray.exists(), "only listed"
    code, out, _ = run_cli(capsys, "gc", "--yes")
    assert code == 0 and not stray.exists()
    record = Ledger().get(run_id)
    assert all((Path(record.runs_dir) / a["path"]).is_file() for a in record.artifacts), "artifacts kept"
    assert (Path(record.runs_dir) / "bundle" / "job.json").is_file(), "the bundle folder is kept for resume"


def test_what_a_run_was_is_recorded(capsys):
    done = run("launch", SMOKE, "--yes", "--set", "smoke.step_seconds=0.01")
    assert done.returncode == 0, done.stderr
    bar = next(line for line in done.stdout.splitlines() if "(recorded)" in line)
    assert bar.startswith("succeeded") and "10/10" in bar, "the bar ends full, at the recorded cost"
    record = Ledger().runs()[0]
    from remote_jobs.money import show_usd

    assert f"{show_usd(record.cost_usd)} of" in bar
    assert record.tuneplan_version and record.overrides == {"set": {"smoke": {"step_seconds": 0.01}}}
    assert record.versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record.metrics["train"]["steps"] == 10
    code, out, _ = run_cli(capsys, "jobs", record.run_id)
    assert code == 0 and "train_loss" in out and "python" in out


def test_provider_auto_launches_the_top_ranked_launchable_option(capsys):
    from remote_jobs.clock import default_clock
    from remote_jobs.launch import choose_provider
    from planner.spec import load_spec

    example = Path(SMOKE).parent / "qwen7b-qlora-sft.yaml"
    hub_data = {"data": {"train": "hub:tatsu-lab/alpaca"}}
    spec = load_spec(example, {"resources": {"provider": "auto"}, **hub_data})
    choice = choose_provider(spec, example, None, default_clock())
    code, out, _ = run_cli(capsys, "recommend", "--spec", str(example), "--json")
    top = next(c for c in json.loads(out)["candidates"] if c["fits"] and c["launchable"])
    assert choice.name == top["provider"] and top["device"] in choice.said
    code, out, err = run_cli(capsys, "launch", SMOKE, "--yes", "--set", "resources.provider=auto",
                             "--set", "smoke.step_seconds=0.01")
    assert code == 0, err
    assert "provider auto" in out and Ledger().runs()[0].provider == "local"


@pytest.mark.slow
def test_a_failed_hub_push_keeps_the_adapter_which_loads_and_pushes_later(capsys):
    from tests.fake_hub import FakeHub

    code, out, err = run_cli(capsys, "launch", str(Path(SMOKE).parent / "tiny-sft.yaml"), "--yes",
                             "--set", "outputs.push_to_hub=ana/tiny-sft-adapter")  # HF_HUB_OFFLINE=1: the push fails
    assert code == 0, err
    record = Ledger().runs()[0]
    assert record.state == RunState.SUCCEEDED and record.artifacts
    assert record.push["ok"] is False and record.push["repo"] == "ana/tiny-sft-adapter" and record.push["error"]
    assert f"tuneplan push {record.run_id}" in " ".join(out.split())
    assert {"torch", "transformers", "peft", "trl", "python"} <= set(record.versions)
    assert record.metrics["train"]["train_loss"] > 0 and record.metrics["tokens"] > 0
    artifacts = Path(record.runs_dir) / "artifacts"
    base = json.loads((artifacts / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base).is_dir() and "local-provider" not in base, "the base the user has, not a scratch folder"
    from peft import AutoPeftModelForCausalLM

    assert AutoPeftModelForCausalLM.from_pretrained(str(artifacts)) is not None
    hub = FakeHub().start()
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        pushed = subprocess.run([*CLI, "push", record.run_id], capture_output=True, text=True, timeout=120,
                                env={**env, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_fake_token"})
        assert pushed.returncode == 0, pushed.stderr
        assert "adapter_config.json" in hub.repos["ana/tiny-sft-adapter"]
        assert "manifest.json" not in hub.repos["ana/tiny-sft-adapter"], "tuneplan's own files stay home"
        assert Ledger().get(record.run_id).push["ok"] is True
        hub.refuse = True
        refused = subprocess.run([*CLI, "push", record.run_id], capture_output=True, text=True, timeout=120,
                                 env={**env, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_bad"})
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and hub.url in refused.stderr
        assert "hf_bad" not in refused.stderr
    finally:
        hub.stop()
