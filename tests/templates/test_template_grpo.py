"""templates/grpo.py: GRPO on the tiny Llama must raise a reward it can climb, log the reward and its spread per
step, load a reference model only when the KL penalty needs one, and refuse bad reward settings in one line."""

from __future__ import annotations

import pytest
from template_helpers import (
    assert_failed,
    assert_succeeded,
    job_file,
    load_template,
    read_metrics,
    run_template,
    verify_manifest,
    write_jsonl,
)

QUESTIONS = [{"prompt": "what does the cat say?", "answer": "meow"}, {"prompt": "2 + 2?", "answer": "4"}]


@pytest.mark.slow
def test_grpo_raises_the_format_reward_of_held_out_answers(grpo_full_run):
    assert_succeeded(grpo_full_run)
    metrics = read_metrics(grpo_full_run.out, "grpo", "full")
    held_out = metrics["eval"]
    assert held_out["prompts"] == 24
    assert held_out["rewards"]["format"] > held_out["before"]["rewards"]["format"] + 0.2, held_out
    assert set(held_out["rewards"]) == {"format", "sound_letters", "exact"}  # summed, and each said on its own
    history = metrics["reward_history"]
    third = len(history) // 3
    early, late = (sum(e["reward"] for e in part) / len(part) for part in (history[:third], history[-third:]))
    assert late > early + 0.1, history  # the sampled answers' reward climbs during training too
    assert metrics["reference_model"] is False  # kl_coef 0: no reference copy


@pytest.mark.slow
def test_grpo_progress_carries_the_reward_mean_and_spread(grpo_full_run):
    assert grpo_full_run.progress, grpo_full_run.stderr
    assert all(p["reward_std"] >= 0 and 0 <= p["reward"] <= 3 for p in grpo_full_run.progress)
    assert grpo_full_run.progress[-1]["step"] == 40


@pytest.mark.slow
def test_grpo_lora_with_kl_needs_no_reference_model_and_merges(grpo_lora_kl_run):
    assert_succeeded(grpo_lora_kl_run)
    metrics = read_metrics(grpo_lora_kl_run.out, "grpo", "lora")
    assert metrics["reference_model"] is False  # the base with the adapter switched off is the reference
    assert metrics["merge"]["ok"] and metrics["merge"]["top1_agreement"] == 1.0, metrics["merge"]
    listed = {f["path"] for f in verify_manifest(grpo_lora_kl_run.out)["files"]}
    assert {"merged/model.safetensors", "adapter_model.safetensors"} <= listed


@pytest.mark.slow
def test_grpo_full_with_kl_holds_a_reference_model(grpo_full_kl_run):
    assert_succeeded(grpo_full_kl_run)
    metrics = read_metrics(grpo_full_kl_run.out, "grpo", "full")
    assert metrics["reference_model"] is True
    assert (grpo_full_kl_run.out / "model.safetensors").is_file()


def rewards_module(**settings):
    grpo = load_template("grpo")
    cfg = {"grpo.format_regex": r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", "grpo.length_target": 4,
           "grpo.max_completion_length": 16, **settings}
    return grpo, grpo.builtin_rewards(cfg)


def test_builtin_rewards_score_answers_as_documented():
    grpo, rewards = rewards_module()
    answers = ["<think>easy</think> <answer>Meow.</answer>", "it is 4", "The total is 1,204.0", "woof"]
    want = ["meow", "4", "1204", "meow"]
    assert rewards["exact"](answers, want) == [1.0, 0.0, 0.0, 0.0]
    assert rewards["numeric"](answers, want) == [0.0, 1.0, 1.0, 0.0]
    assert rewards["format"](answers) == [1.0, 0.0, 0.0, 0.0]
    assert rewards["length"](answers, completion_ids=[[1] * 4, [1] * 6, [1] * 8, [1] * 20]) == [0.0, -0.5, -1.0, -1.0]
    chat = [[{"role": "assistant", "content": "<answer>4</answer>"}]]  # what TRL passes for chat prompts
    assert rewards["exact"](chat, ["4"]) == [1.0] and rewards["numeric"](chat, ["4"]) == [1.0]


@pytest.mark.parametrize(("settings", "rows", "message"), [
    ({"grpo": {"rewards": ["exact"]}}, [{"prompt": "p"}], "row 1 has no 'answer'"),
    ({"grpo": {"rewards": ["mine"], "reward_file": "rewards.py"}}, QUESTIONS, "defines no function 'mine'"),
    ({"grpo": {"rewards": ["mine"], "reward_file": "nope.py"}}, QUESTIONS, "is not a file"),
    ({"grpo": {"rewards": ["broken"], "reward_file": "broken.py"}}, QUESTIONS, "importing it failed: ZeroDivisionError"),
    ({"grpo": {"format_regex": "(unclosed"}, "data": {"train": "train.jsonl"}}, QUESTIONS, "not a regular expression"),
    ({"grpo": {"num_generations": 3}, "training": {"micro_batch_size": 4}}, QUESTIONS, "must be a multiple of"),
    ({"grpo": {"num_generations": 1}, "training": {"micro_batch_size": 4}}, QUESTIONS, "at least 2"),
    ({"grpo": {"rewards": "exact"}}, QUESTIONS, "must be a list of reward names"),
])
def test_bad_grpo_settings_exit_2_in_one_line(tmp_path, settings, rows, message):
    write_jsonl(tmp_path / "train.jsonl", rows)
    (tmp_path / "rewards.py").write_text("def other(completions, **kw):\n    return [0.0] * len(completions)\n")
    (tmp_path / "broken.py").write_text("1 / 0\n")
    spec = {"task": "grpo", "model": "some/model", "output_dir": "out", "data": {"train": "train.jsonl"},
            "training": {"micro_batch_size": 4, "grad_accum": 1}}
    for key, value in settings.items():
        spec[key] = {**spec.get(key, {}), **value}
    result = run_template("grpo", ["--config", str(job_file(tmp_path / "job.json", **spec))], tmp_path)
    assert_failed(result, 2, message)
