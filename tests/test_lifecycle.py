"""The run lifecycle end to end with smoke jobs: launch → watch → pull → verify → teardown → record, through the
CLI and through ``remote_jobs`` with an injected clock, on the local provider and the fake cloud."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from providers.local import LocalProvider
from providers.types import RunState, TransientProviderError
from remote_jobs.events import CostUpdate, Progress, StateChanged
from remote_jobs.ledger import Ledger
from remote_jobs.runids import is_run_id
from tests.cli_inprocess import run_cli
from tests.contract.fake_cloud import FakeCloud
from tests.contract.harness import FakeClock, processes_mentioning, run_lifecycle, smoke_spec

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "examples" / "tiny-smoke.yaml")
FAST = ("--set", "smoke.step_seconds=0.02")


def only_run(ledger: Ledger):
    runs = ledger.runs()
    assert len(runs) == 1
    return runs[0]


def test_launch_smoke_through_the_cli(capsys, tmp_path):
    code, out, err = run_cli(capsys, "launch", SMOKE, "--yes", *FAST)
    assert code == 0, err
    assert "Launch plan: tiny-smoke" in out and "What leaves this machine" in out and "tiny-chat.jsonl" in out
    record = only_run(Ledger())
    assert is_run_id(record.run_id) and record.run_id.startswith("tiny-smoke-")
    assert record.state == RunState.SUCCEEDED and record.torn_down_at is not None
    assert record.ended_at >= record.started_at >= record.created_at
    assert record.actual_usd is not None and record.actual_usd > 0 and record.price_usd_per_hour > 0
    assert record.estimate_usd is not None and record.price_source.startswith("electricity")
    assert {a["path"] for a in record.artifacts} >= {"artifacts/smoke.txt", "artifacts/metrics.json"}
    run_dir = Path(record.runs_dir)
    for entry in record.artifacts:
        assert (run_dir / entry["path"]).is_file()
    assert (run_dir / "run.log").is_file() and (run_dir / "bundle.tar.gz").is_file()
    assert not (Path(record.handle.data["workdir"])).exists(), "the local 'disk' goes with the teardown"
    assert not processes_mentioning(record.run_id)


def test_the_run_commands_after_a_launch(capsys):
    assert run_cli(capsys, "launch", SMOKE, "--yes", *FAST)[0] == 0
    record = only_run(Ledger())
    code, out, _ = run_cli(capsys, "jobs", "--json")
    assert code == 0 and json.loads(out)[0]["run_id"] == record.run_id
    code, out, _ = run_cli(capsys, "jobs")
    assert code == 0 and record.run_id in out and "succeeded" in out
    code, out, _ = run_cli(capsys, "logs", "tiny-smoke")
    assert code == 0 and 'TUNEPLAN_DONE {"ok": true}' in out
    code, out, _ = run_cli(capsys, "pull", record.run_id)
    assert code == 0 and "already pulled" in out
    for _ in range(2):
        code, out, err = run_cli(capsys, "down", record.run_id)
        assert code == 0, err
    code, out, _ = run_cli(capsys, "watch", record.run_id[:20])
    assert code == 0 and "succeeded" in out
    code, out, _ = run_cli(capsys, "reap")
    assert code == 0 and "nothing to reap" in out
    assert only_run(Ledger()).state == RunState.SUCCEEDED


def test_launch_takes_the_spec_as_an_option_too(capsys):
    code, _, err = run_cli(capsys, "launch", "--spec", SMOKE, "--yes", *FAST, "--set", "training.max_steps=2")
    assert code == 0, err


def test_over_budget_is_refused_before_anything_is_recorded(capsys):
    args = ("launch", SMOKE, "--yes", "--set", "smoke.step_seconds=60", "--set", "resources.max_total_usd=0.0003")
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and "exceeds max_total_usd" in err and "--allow-over-budget" in err
    assert Ledger().runs() == []
    code, out, err = run_cli(capsys, *args, "--allow-over-budget", "--detach")
    assert code == 0, err
    assert run_cli(capsys, "down", "tiny-smoke")[0] == 0
    assert only_run(Ledger()).state == RunState.CANCELLED


def test_a_non_interactive_launch_needs_yes(capsys):
    code, _, err = run_cli(capsys, "launch", SMOKE, *FAST)
    assert code == 2 and "--yes" in err
    assert Ledger().runs() == []


def test_the_templates_own_check_refuses_bad_data_before_anything_is_paid(capsys, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 320, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256, "tie_word_embeddings": False}))
    (tmp_path / "bad.jsonl").write_text('{"question": "no messages column here"}\n')
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\ntask: sft\nmodel: model\ndata: {train: bad.jsonl}\n"
                    "training: {seq_len: 64, max_steps: 2}\nresources: {provider: local}\n")
    code, out, err = run_cli(capsys, "launch", str(spec), "--yes")
    assert code == 2 and "template refused this job" in err and "messages" in err
    assert Ledger().runs() == []
    assert LocalProvider().list_resources() == []


def test_a_failed_job_is_recorded_with_its_reason_and_torn_down(capsys):
    code, out, err = run_cli(capsys, "launch", SMOKE, "--yes", *FAST, "--set", "smoke.fail_at=3")
    assert code == 1 and "ended failed" in err
    record = only_run(Ledger())
    assert record.state == RunState.FAILED and "forced failure at step 3" in record.failure_reason
    assert record.torn_down_at is not None and record.artifacts == []
    assert LocalProvider().list_resources() == []


def test_detach_then_watch_finishes_the_run(capsys):
    code, out, err = run_cli(capsys, "launch", SMOKE, "--yes", "--detach", "--set", "smoke.step_seconds=0.1")
    assert code == 0 and "tuneplan watch" in out, err
    assert only_run(Ledger()).state in (RunState.PROVISIONING, RunState.RUNNING)
    code, out, err = run_cli(capsys, "logs", "-f", "tiny-smoke")
    assert code == 0 and 'TUNEPLAN_DONE {"ok": true}' in out
    code, out, err = run_cli(capsys, "watch", "tiny-smoke")
    assert code == 0, err
    record = only_run(Ledger())
    assert record.state == RunState.SUCCEEDED and record.torn_down_at and record.artifacts


def test_fake_cloud_lifecycle_with_transient_errors_and_a_bill(tmp_path):
    cloud, clock, events = FakeCloud(tmp_path / "cloud", provisioning_s=0.2), FakeClock(), []
    cloud.fail_next.update(status=2, fetch_artifacts=1)
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock)
    record = run_lifecycle(smoke_spec(steps=3, step_seconds=0.05), cloud, ledger, clock, tmp_path / "runs", events)
    assert record.state == RunState.SUCCEEDED, record.failure_reason
    assert record.provider == "fake" and record.gpu == "A10G" and record.price_usd_per_hour == Decimal("1.20")
    assert record.billed_usd is not None and record.cost_usd == record.billed_usd
    assert record.actual_usd is not None and record.provisioning_s is not None
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states[:2] == ["provisioning", "running"] and states[-1] == "succeeded" and "pulling" in states
    assert any(isinstance(e, Progress) for e in events) and any(isinstance(e, CostUpdate) for e in events)
    assert not list((tmp_path / "cloud" / "remote").iterdir()), "teardown deletes the remote disk"
    assert cloud.list_resources() == []
    assert [e["state"] for e in ledger.events(record.run_id)][0] == "pending"


def test_a_launch_that_hiccups_is_not_retried_and_is_recorded_as_failed(tmp_path):
    """A create that timed out may have made a machine: a retry could make a second one. One call, then the
    run is closed as failed (its teardown runs; reap would find anything the call left behind)."""
    cloud, clock = FakeCloud(tmp_path / "cloud", provisioning_s=0.05), FakeClock()
    cloud.fail_next.update(launch=1)
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock)
    with pytest.raises(TransientProviderError):
        run_lifecycle(smoke_spec(steps=2), cloud, ledger, clock, tmp_path / "runs")
    [record] = ledger.runs()
    assert cloud.calls.count("launch") == 1
    assert record.state == RunState.FAILED and record.failure_reason.startswith("launch failed")
    assert record.torn_down_at is not None


def test_a_corrupted_artifact_fails_the_run(tmp_path):
    cloud, clock = FakeCloud(tmp_path / "cloud", provisioning_s=0.05), FakeClock()
    cloud.corrupt.add("smoke.txt")
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock)
    record = run_lifecycle(smoke_spec(steps=2), cloud, ledger, clock, tmp_path / "runs")
    assert record.state == RunState.FAILED
    assert "smoke.txt: sha256 mismatch" in record.failure_reason
    assert record.artifacts == [] and not (tmp_path / "runs" / record.run_id / "artifacts").exists()
    assert record.torn_down_at is not None and cloud.calls.count("fetch_artifacts") == 2


def test_budget_overrun_stops_the_job_and_keeps_the_last_checkpoint(tmp_path):
    # Billing time runs 100× real time while the watcher sleeps, and its polls back off (up to 8×) while the job
    # says nothing new: the $0.01 cap (25 billed minutes) is reached after 1.9 s of real time at the soonest, so
    # even a slow start has written a checkpoint, and after 15 s at the latest, well before the 50 s job ends.
    clock = FakeClock(speed=100)
    provider, ledger = LocalProvider(root=tmp_path / "local", grace_s=2), Ledger(tmp_path / "l.sqlite3", clock)
    spec = smoke_spec(steps=1000, step_seconds=0.05, resources={"max_total_usd": 0.01})
    record = run_lifecycle(spec, provider, ledger, clock, tmp_path / "runs")
    assert record.state == RunState.BUDGET_STOPPED
    assert "over the max_total_usd cap of $0.01" in record.failure_reason
    assert "last checkpoint checkpoint-" in record.failure_reason
    kept = list((tmp_path / "runs" / record.run_id / "checkpoint" / "checkpoints").glob("checkpoint-*"))
    assert len(kept) == 1 and (kept[0] / "trainer_state.json").is_file()
    assert record.actual_usd > Decimal("0.01") and record.torn_down_at is not None
    assert provider.list_resources() == [] and not processes_mentioning(record.run_id)


def test_the_remote_runtime_limit_is_recorded_as_budget_stopped(tmp_path):
    clock = FakeClock()
    provider, ledger = LocalProvider(root=tmp_path / "local", grace_s=2), Ledger(tmp_path / "l.sqlite3", clock)
    record = run_lifecycle(smoke_spec(steps=300, step_seconds=0.05), provider, ledger, clock, tmp_path / "runs",
                           change_plan={"max_runtime_s": 1})
    assert record.state == RunState.BUDGET_STOPPED and "hard runtime limit of 1 s" in record.failure_reason
    assert record.max_runtime_s == 1


def test_ctrl_c_while_watching_tears_down(tmp_path):
    clock = FakeClock()
    provider, ledger = LocalProvider(root=tmp_path / "local", grace_s=2), Ledger(tmp_path / "l.sqlite3", clock)

    def interrupt(event):
        if isinstance(event, Progress):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_lifecycle(smoke_spec(steps=300, step_seconds=0.05), provider, ledger, clock, tmp_path / "runs",
                      events=type("Sink", (), {"append": staticmethod(interrupt)})())
    record = only_run(ledger)
    assert record.state == RunState.CANCELLED and "Ctrl-C" in record.failure_reason
    assert record.torn_down_at is not None and provider.list_resources() == []
    assert not processes_mentioning(record.run_id)


@pytest.mark.parametrize("name", ["tiny-sft", "tiny-dpo", "tiny-classify", "tiny-embed", "tiny-smoke"])
def test_the_examples_load_and_name_their_local_inputs(name):
    from planner.spec import load_spec
    from remote_jobs.resolve import resolve_job

    path = ROOT / "examples" / f"{name}.yaml"
    spec = load_spec(path)
    assert spec.resources.provider == "local" and spec.resources.max_total_usd
    if spec.task == "smoke":
        job = resolve_job(spec, path)
        assert [i.role for i in job.inputs] == ["train"]
    else:
        assert spec.model.startswith("tiny:") and spec.training.max_steps
        assert (path.parent / spec.data.train).is_file()


def test_bills_with_nothing_waiting_says_so(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "bills", "--ledger", str(tmp_path / "ledger.sqlite3"))
    assert code == 0 and "no finished run is waiting for a bill" in out


def test_polls_space_out_while_nothing_changes(tmp_path):
    """A 1 s poll sent a provider several API requests a second for as long as a machine took to start."""
    from remote_jobs.watch import MAX_BACKOFF
    from tests.contract.harness import run_lifecycle

    class Clock(FakeClock):
        def __init__(self):
            super().__init__()
            self.waits: list[float] = []

        def sleep(self, seconds: float) -> None:
            self.waits.append(round(seconds, 4))
            super().sleep(seconds)

    clock = Clock()
    cloud = FakeCloud(tmp_path / "cloud", provisioning_s=2.0)
    record = run_lifecycle(smoke_spec(name="patient", steps=2), cloud, Ledger(tmp_path / "l.sqlite3", clock), clock,
                           tmp_path / "runs", poll_s=0.05)
    assert record.state == RunState.SUCCEEDED
    assert max(clock.waits) == 0.05 * MAX_BACKOFF, "the waits grew while provisioning went on"
    assert clock.waits[0] == 0.05 and sorted(clock.waits[:4]) == clock.waits[:4]
