"""Issue 20, item 1: ``task: grpo``. The planner prices GRPO's two phases (the answers' generation with its KV cache,
decode-bound; the training step on prompt + answer), holds a reference copy only where TRL does, the spec refuses
bad reward settings in one line, the reward file travels in the bundle, and the tiny example runs end to end with
its reward rising and ``tuneplan eval`` showing the rewards of base and trained answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from planner.arch import architecture_from_config
from planner.errors import BadInput
from planner.estimate.devices import gpu_target
from planner.estimate.memory import estimate_memory
from planner.estimate.setup import TrainingSetup
from planner.estimate.timing import estimate_time, generation_seconds
from planner.catalog.gpus import gpu_catalog
from planner.spec import load_spec
from planner.units import GIB
from remote_jobs.resolve import resolve_job
from tests.cli_inprocess import run_cli
from tests.tiny_launch import launch_example

ROOT = Path(__file__).resolve().parents[1]
QWEN_7B = architecture_from_config({
    "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 3584, "intermediate_size": 18944,
    "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
    "tie_word_embeddings": False, "max_position_embeddings": 32768}, source="qwen2.5-7b")


def grpo(**changes) -> TrainingSetup:
    base = dict(task="grpo", method="lora", seq_len=256 + 1024, completion_len=1024, num_generations=8,
                micro_batch=8, grad_accum=4)
    return TrainingSetup(**{**base, **changes}).validated()


def test_a_reference_copy_only_for_a_full_fine_tune_with_a_kl_penalty():
    weights = {(method, kl): estimate_memory(QWEN_7B, grpo(method=method, kl_coef=kl)).breakdown["weights"]
               for method in ("full", "lora") for kl in (0.0, 0.04)}
    assert weights[("full", 0.04)] == pytest.approx(2 * weights[("full", 0.0)])  # policy + frozen reference
    assert weights[("lora", 0.04)] == weights[("lora", 0.0)]  # the base with the adapter off is the reference


def test_the_generation_kv_cache_is_priced_and_can_be_the_peak():
    small = estimate_memory(QWEN_7B, grpo())
    many = estimate_memory(QWEN_7B, grpo(micro_batch=4, grad_accum=32, num_generations=16, seq_len=256 + 4096,
                                         completion_len=4096))
    # 128 answers × 4,352 tokens × (2 × 28 layers × 512 × 2 bytes) of KV cache: 30.3 GiB
    assert many.phase == "generation of the answers"
    assert many.breakdown["activations"] / GIB == pytest.approx(128 * 4352 * 2 * 28 * 512 * 2 / GIB, rel=0.02)
    assert any("128 answers generated at once" in note for note in many.notes)
    assert small.phase != "generation of the answers"


def test_generation_is_decode_bound_so_bandwidth_not_flops_sets_its_time():
    h100, a100 = (gpu_target(gpu_catalog()[name], "bf16") for name in ("H100", "A100-80GB"))
    short, long = grpo(seq_len=256 + 512, completion_len=512), grpo()
    assert generation_seconds(QWEN_7B, long, h100, 256) == pytest.approx(
        2 * generation_seconds(QWEN_7B, short, h100, 256), rel=0.1)  # twice the answer, twice the decode
    ratio = generation_seconds(QWEN_7B, long, a100, 256) / generation_seconds(QWEN_7B, long, h100, 256)
    flops_ratio = h100.peak_tflops / a100.peak_tflops
    bandwidth_ratio = h100.bandwidth_gb_s / a100.bandwidth_gb_s
    # H100 has 3.2× the FLOPs of an A100 but 1.6× its bandwidth; one token at a time, eager kernel launches
    # on top, it generates at most 1.6× faster
    assert 1 < ratio < bandwidth_ratio < flops_ratio
    timed = estimate_time(QWEN_7B, long, h100, tokens_total=1000 * 120, avg_tokens=120)
    answers = 1000 * 8
    assert timed.steps == answers // 8  # micro-steps: 8 answers each
    per_optimizer_step = generation_seconds(QWEN_7B, long, h100, 120)
    assert timed.hours * 3600 > answers / 32 * per_optimizer_step  # the generation rounds are all in the hours


def test_an_answer_batch_that_does_not_hold_whole_groups_is_one_line():
    with pytest.raises(BadInput, match="must be a multiple of num_generations = 8"):
        grpo(micro_batch=2, grad_accum=1)


def test_the_plan_of_the_tiny_example_counts_prompts_answers_and_tokens(capsys):
    code, out, err = run_cli(capsys, "plan", "--spec", str(ROOT / "examples" / "tiny-grpo.yaml"), "--json",
                             "--no-calibration")
    assert code == 0, err
    plan = json.loads(out)
    rows = 40 * 16 // 8  # max_steps × answers per step ÷ answers per prompt: the prompts the run reads
    assert plan["job"]["task"] == "grpo" and plan["data"]["examples"] == rows
    assert plan["grpo"]["answers"] == rows * 8 and plan["grpo"]["completion_tokens"] == 8
    assert plan["tokens"] == rows * 8 * (plan["grpo"]["prompt_tokens"] + 8)
    assert plan["grpo"]["reference_model"] is False
    code, out, err = run_cli(capsys, "plan", "--spec", str(ROOT / "examples" / "tiny-grpo.yaml"), "--no-calibration")
    assert f"{rows} prompts × 8 answers" in out


@pytest.mark.parametrize(("grpo_section", "message"), [
    ({"rewards": ["my_reward"]}, "name the Python file that defines it in grpo.reward_file"),
    ({"rewards": ["exact", "exact"]}, "a reward is named twice"),
    ({"format_regex": "(unclosed"}, "not a regular expression"),
    ({"num_generations": 1}, "grpo.num_generations"),
    ({"rewards": ["rm -rf /"]}, "is neither a built-in reward"),
])
def test_bad_grpo_settings_in_a_spec_are_one_line(tmp_path, capsys, grpo_section, message):
    spec = yaml.safe_load((ROOT / "examples" / "tiny-grpo.yaml").read_text())
    spec["grpo"] = grpo_section
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(capsys, "plan", "--spec", str(path), "--no-calibration")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_reward_file_travels_in_the_bundle_and_only_a_python_file_does():
    job = resolve_job(load_spec(ROOT / "examples" / "tiny-grpo.yaml"), ROOT / "examples" / "tiny-grpo.yaml")
    rewards = next(i for i in job.inputs if i.role == "rewards")
    assert rewards.bundle_path == "rewards/tiny-grpo-rewards.py"
    assert job.job_json()["grpo"]["reward_file"] == "rewards/tiny-grpo-rewards.py"
    other = resolve_job(load_spec(ROOT / "examples" / "tiny-sft.yaml"), ROOT / "examples" / "tiny-sft.yaml")
    assert "grpo" not in other.job_json()  # another task's job.json carries no grpo section


def test_a_reward_file_that_is_not_python_is_refused(tmp_path):
    spec = yaml.safe_load((ROOT / "examples" / "tiny-grpo.yaml").read_text())
    (tmp_path / "rewards.txt").write_text("x")
    spec["grpo"]["reward_file"] = "rewards.txt"
    spec["data"] = {"train": str(ROOT / "examples" / "data" / "tiny-grpo.jsonl")}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(BadInput, match="must be a Python file"):
        resolve_job(load_spec(path), path)


@pytest.mark.slow
def test_the_tiny_grpo_example_raises_its_reward_and_eval_shows_the_rewards(capsys, tmp_path, monkeypatch):
    spec = yaml.safe_load((ROOT / "examples" / "tiny-grpo.yaml").read_text())
    reward_file = str(ROOT / "examples" / spec["grpo"]["reward_file"])
    record, artifacts = launch_example(capsys, tmp_path, monkeypatch, "tiny-grpo", grpo={"reward_file": reward_file})
    metrics = json.loads((artifacts / "metrics.json").read_text())
    held_out = metrics["eval"]
    assert held_out["rewards"]["format"] > held_out["before"]["rewards"]["format"], held_out
    assert metrics["reward_history"] and metrics["reference_model"] is False
    code, out, err = run_cli(capsys, "eval", record["run_id"], "--json", "--limit", "3")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["examples"]) == 3
    assert set(result["metrics"]["tuned"]["rewards"]) == {"format", "sound_letters", "exact"}
    code, out, err = run_cli(capsys, "eval", record["run_id"], "--limit", "3")
    assert code == 0 and "rewards.format" in out and "reward_mean" in out, err


def test_sharded_weights_are_gathered_for_every_decode_step_under_fsdp():
    rtx = gpu_target(gpu_catalog()["RTX3090"], "bf16")
    alone = generation_seconds(QWEN_7B, grpo(method="qlora", quant="nf4"), rtx, 256)
    fsdp = generation_seconds(QWEN_7B, grpo(method="qlora", quant="nf4", gpus=2, sharding="fsdp"), rtx, 256)
    zero3 = generation_seconds(QWEN_7B, grpo(method="qlora", quant="nf4", gpus=2, sharding="zero3"), rtx, 256)
    # half of the weights cross a consumer card's link (no peer-to-peer) once per answer token under FSDP
    assert fsdp > 3 * alone
    assert alone < zero3 < fsdp  # ZeRO-3 gathers them once for the whole round (and holds them, see memory)
    whole = estimate_memory(QWEN_7B, grpo(method="full", gpus=2, sharding="zero3", micro_batch=4, grad_accum=64,
                                          num_generations=16))
    assert whole.phase == "generation of the answers"


def test_the_tui_form_plans_a_grpo_spec_as_plan_does_and_marks_the_batch_field():
    from tuneplan.tui.draft import default_draft, draft_from_spec, estimate_draft

    spec = ROOT / "examples" / "qwen7b-grpo-math.yaml"
    form = estimate_draft(draft_from_spec(spec)).plan
    assert form["grpo"]["num_generations"] == 8 and form["grpo"]["completion_tokens"] == 1024
    assert form["grpo"]["answers_per_generation"] == 32  # micro-batch 8 × accumulation 4, as the spec says
    draft = default_draft()
    draft.values.update(task="grpo", method="lora", quant="none", batch_size="1")
    assert "multiple of num_generations" in estimate_draft(draft).errors["batch_size"]


def test_data_inspect_measures_grpo_prompts_against_their_room(capsys):
    code, out, err = run_cli(capsys, "data", "inspect", str(ROOT / "examples" / "tiny-grpo.yaml"))
    assert code == 0, err
    assert "format prompt-answer" in out and "prompts longer than grpo.max_prompt_length 32 (left out): 0" in out
    assert "packing" not in out  # answers are generated: nothing to pack
