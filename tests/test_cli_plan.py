"""`tuneplan plan` as a user runs it: the JSON contract, the table, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from planner.catalog.models import catalog_models


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuneplan.cli.app", "plan", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60)


def plan_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_contract():
    out = plan_json("--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "qlora", "--batch-size", "2",
                    "--examples", "5000", "--avg-tokens", "600", "--epochs", "3")
    assert set(out["breakdown_gib"]) == {"weights", "adapter", "gradients", "optimizer", "activations",
                                         "logits", "overhead"}
    assert sum(out["breakdown_gib"].values()) == pytest.approx(out["peak_vram_gib"], abs=0.01)
    assert out["params"] == {"total": 7_615_616_512, "trainable": out["params"]["trainable"],
                             "active": 7_615_616_512}
    assert out["tokens"] == 9_000_000 and out["flops"] > 6 * 7e9 * 9e6 * 0.5
    h100 = out["fits"]["H100"]
    assert h100["fits"] and h100["memory_gib"] == pytest.approx(79.65) and h100["hours"] > 0 and h100["gpus"] == 1
    assert out["fits"]["RTX4090"]["fits"] and out["fits"]["RTX4090"]["headroom_gib"] > 0
    assert out["model"] == {"id": "Qwen/Qwen2.5-7B-Instruct", "arch": "qwen2", "source": "catalog", "gated": False}
    assert "cuda_context_gib" in out["assumptions"]


def test_a_job_too_big_for_a_card_still_gets_hours():
    out = plan_json("--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "lora", "--gpu", "T4")
    assert out["fits"]["T4"]["fits"] is False and out["fits"]["T4"]["headroom_gib"] < 0
    assert out["fits"]["T4"]["hours"] > 0


def test_moe_reports_active_parameters_in_json():
    out = plan_json("--model", "Qwen/Qwen3-30B-A3B", "--method", "qlora", "--gpu", "H100")
    assert out["params"]["total"] == 30_532_122_624 and out["params"]["active"] < 3.5e9
    assert list(out["fits"]) == ["H100"]


def test_inference_section():
    out = plan_json("--model", "meta-llama/Llama-3.1-8B-Instruct", "--quant", "nf4", "--method", "qlora",
                    "--inference", "--context", "8192")
    inference = out["inference"]
    assert inference["context"] == 8192 and inference["kv_cache_gib"] == pytest.approx(1.0, abs=0.01)
    assert inference["decode_tokens_per_s"]["H100"] > inference["decode_tokens_per_s"]["Apple M4 Max (40-core GPU)"]
    assert inference["decode_tokens_per_s"]["Apple M4 Max (40-core GPU)"] > inference["decode_tokens_per_s"]["AMD Ryzen 9 7950X"]


def test_spec_file_with_flag_override(tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text("name: bot\nmodel: Qwen/Qwen2.5-7B-Instruct\nmethod: qlora\n"
                    "data: {examples: 1000, avg_tokens: 400}\ntraining: {seq_len: 1024, epochs: 2}\n")
    out = plan_json("--spec", str(spec), "--seq-len", "2048")
    assert out["job"]["seq_len"] == 2048 and out["job"]["quant"] == "nf4" and out["tokens"] == 800_000


def test_local_config_directory(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(catalog_models()["google/gemma-3-1b-it"].config))
    out = plan_json("--model", str(tmp_path), "--method", "full")
    assert out["params"]["total"] == 999_885_952


def test_human_table_mentions_peak_and_fits():
    result = run("--model", "meta-llama/Llama-3.2-1B", "--method", "lora", "--gpu", "RTX4090")
    assert result.returncode == 0, result.stderr
    assert "Peak memory per GPU" in result.stdout and "RTX4090" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (["--model", "meta-llama/Llama-3.1-8B-Instrct"], "did you mean 'meta-llama/Llama-3.1-8B-Instruct'"),
    (["--model", "gpt2", "--method", "qlra"], "did you mean 'qlora'"),
    (["--model", "gpt2", "--gpu", "H10"], "unknown GPU 'H10'"),
    (["--model", "gpt2", "--method", "full", "--quant", "nf4"], "full fine-tune cannot"),
    (["--model", "gpt2", "--batch-size", "0"], "--batch-size must be positive"),
    (["--model", "gpt2", "--seq-len", "abc"], "--seq-len"),
    (["--model", "gpt2", "--gpus", "4", "--sharding", "zero9"], "unknown sharding"),
    ([], "give --model"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    result = run(*args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_malformed_config_json_is_exit_2(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", "hidden_size": 64,')
    result = run("--model", str(bad))
    assert result.returncode == 2 and "malformed JSON" in result.stderr and "Traceback" not in result.stderr


def test_plain_tuneplan_without_a_terminal_prints_the_commands_and_exits():
    """Scripts and CI call ``tuneplan`` without a terminal: the TUI would wait for one for ever."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from tuneplan.cli.entry import main; main()"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Usage: " in done.stdout and "launch" in done.stdout
