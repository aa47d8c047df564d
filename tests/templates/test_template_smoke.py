"""templates/smoke.py: the no-ML template the lifecycle tests lean on. It must be fast, speak the same
protocol, write a verifiable output, fail on request, and resume like the training templates."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from template_helpers import TEMPLATES, assert_failed, assert_succeeded, run_template, verify_manifest


def test_default_run_is_fast_and_complete(tmp_path):
    result = run_template("smoke", ["--output-dir", str(tmp_path / "out")], tmp_path)
    assert_succeeded(result)
    assert result.wall_s < 1.0
    assert [p["step"] for p in result.progress] == [1, 2, 3, 4, 5]
    assert result.losses == sorted(result.losses, reverse=True)
    out = tmp_path / "out"
    assert "smoke" in (out / "smoke.txt").read_text()
    listed = {f["path"] for f in verify_manifest(out)["files"]}
    assert listed == {"smoke.txt", "metrics.json", "resolved_config.json"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["task"], metrics["device"], metrics["peak_mem_reserved_gib"]) == ("smoke", "cpu", None)


def test_step_seconds_make_the_run_last(tmp_path):
    args = ["--output-dir", "out", "--steps", "3", "--step-seconds", "0.25"]
    result = run_template("smoke", args, tmp_path)
    assert_succeeded(result)
    assert result.wall_s >= 0.75
    assert result.progress[0]["total_steps"] == 3


def test_forced_failure_then_rerun_resumes_after_the_last_checkpoint(tmp_path):
    args = ["--output-dir", "out", "--steps", "6"]
    failed = run_template("smoke", [*args, "--fail-at", "4"], tmp_path)
    assert failed.code == 1 and failed.done == {"ok": False, "error": "forced failure at step 4 (--fail-at)"}
    assert [p["step"] for p in failed.progress] == [1, 2, 3]
    assert not (tmp_path / "out" / "manifest.json").exists()  # no manifest: the output is not complete
    resumed = run_template("smoke", [*args, "--require-resume"], tmp_path)
    assert_succeeded(resumed)
    assert [p["step"] for p in resumed.progress] == [4, 5, 6]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["resumed_from"].endswith("checkpoint-3")
    verify_manifest(tmp_path / "out")


def test_reads_a_full_jobspec_in_yaml(tmp_path):
    (tmp_path / "job.yaml").write_text(
        "name: support-bot\nproject: support\nowner: alice\ntask: smoke\nmodel: Qwen/Qwen2.5-7B-Instruct\n"
        "method: qlora\nquantization: nf4\nlora: {r: 16, alpha: 32, dropout: 0.05, targets: all-linear}\n"
        "data: {train: data/train.jsonl, format: chat, examples: 5000}\n"
        "training: {epochs: 3, seq_len: 2048, max_steps: 2, kernels: liger}\n"
        "resources: {provider: local, gpu: auto, spot: false}\nsecrets: [HF_TOKEN]\n"
        "outputs: {merge_adapter: false, push_to_hub: null}\noutput_dir: out\n")
    result = run_template("smoke", ["--config", "job.yaml"], tmp_path)
    assert_succeeded(result)
    assert len(result.progress) == 2
    resolved = json.loads((tmp_path / "out" / "resolved_config.json").read_text())
    assert resolved["name"] == "support-bot" and resolved["training"]["seq_len"] == 2048
    assert resolved["data"]["train"] == str(tmp_path / "data" / "train.jsonl")
    assert "resources" not in resolved and "secrets" not in resolved


def test_unknown_key_is_refused(tmp_path):
    job = {"task": "smoke", "output_dir": "out", "outputs": {"merge": 1}}
    (tmp_path / "job.json").write_text(json.dumps(job))
    assert_failed(run_template("smoke", ["--config", "job.json"], tmp_path), 2, "unknown key 'outputs.merge'")


def test_sigterm_ends_the_run_with_a_done_line_and_the_rerun_resumes(tmp_path):
    """What a spot preemption looks like: SIGTERM mid-run, then the launcher starts the same job again."""
    args = ["--output-dir", "out", "--steps", "40", "--step-seconds", "0.05"]
    proc = subprocess.Popen([sys.executable, str(TEMPLATES / "smoke.py"), *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith("TUNEPLAN_PROGRESS")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 1 and "Traceback" not in stderr
    done = json.loads(stdout.strip().splitlines()[-1].removeprefix("TUNEPLAN_DONE "))
    assert done["ok"] is False and done["error"].startswith("terminated by SIGTERM")
    resumed = run_template("smoke", [*args, "--step-seconds", "0", "--require-resume"], tmp_path)
    assert_succeeded(resumed)
    assert 1 < resumed.progress[0]["step"] < 40 and resumed.progress[-1]["step"] == 40
