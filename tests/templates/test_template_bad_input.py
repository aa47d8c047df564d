"""User mistakes end with exit 2 (3 for a missing checkpoint), one `error:` line and no traceback, and they
are caught before any ML import: each of these runs takes a fraction of a second."""

from __future__ import annotations

import importlib.util
import json

import pytest
from template_helpers import assert_failed, job_file, run_template, write_jsonl

CHAT = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
PREFS = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
TOPICS = [{"text": "rain", "label": "weather"}, {"text": "pizza", "label": "food"}]

CASES = {  # id: (task, job overrides, train rows, extra files, expected code, message)
    "unknown-key": ("sft", {"training": {"seqlen": 64}}, CHAT, {},
                    2, "unknown key 'training.seqlen' in"),
    "unknown-section": ("sft", {"trainer": {}}, CHAT, {}, 2, "unknown key 'trainer'"),
    "unknown-method": ("sft", {"method": "prefix"}, CHAT, {}, 2, "method 'prefix' is not one of"),
    "method-not-for-task": ("classify", {"method": "qlora"}, TOPICS, {}, 2, "method 'qlora' is not one of"),
    "quantized-classifier": ("classify", {"quantization": "nf4"}, TOPICS, {}, 2, "quantization 'nf4'"),
    "wrong-task": ("sft", {"task": "dpo"}, CHAT, {}, 2, "this job is for task 'dpo'"),
    "negative-seq-len": ("sft", {"training": {"seq_len": -1}}, CHAT, {}, 2, "seq_len must be a positive"),
    "missing-model": ("sft", {"model": None}, CHAT, {}, 2, "'model' is required"),
    "missing-column": ("sft", {"data": {"format": "chat"}}, [{"text": "x"}], {}, 2, "has no 'messages'"),
    "unknown-format": ("sft", {}, [{"question": "x"}], {}, 2, "fit no format"),
    "empty-file": ("sft", {}, [], {}, 2, "must hold at least one row"),
    "missing-file": ("sft", {"data": {"train": "nope.jsonl"}}, CHAT, {}, 2, "cannot read"),
    "dpo-missing-rejected": ("dpo", {}, [{"prompt": "p", "chosen": "a"}], {}, 2, "row 1 has no 'rejected'"),
    "unseen-eval-label": ("classify", {"data": {"eval": "eval.jsonl"}}, TOPICS,
                          {"eval.jsonl": [{"text": "goal", "label": "sport"}]}, 2, "label 'sport' is not in"),
    "single-label": ("classify", {"data": {"eval": "eval.jsonl"}}, TOPICS[:1], {"eval.jsonl": TOPICS[:1]},
                     2, "at least 2 distinct labels"),
    "embed-score-range": ("embed", {}, [{"anchor": "a", "positive": "b", "score": 3}], {}, 2,
                          "row 1: 'score' must be a number in [-1, 1]"),
    "unsloth": ("sft", {"training": {"kernels": "unsloth"}}, CHAT, {}, 2, "training.kernels 'unsloth'"),
    "flash-for-bert": ("embed", {"training": {"attn": "flash"}}, [{"anchor": "a", "positive": "b"}], {}, 2,
                       "training.attn 'flash'"),
}


def make_job(tmp_path, task: str, overrides: dict, rows: list, files: dict):
    write_jsonl(tmp_path / "train.jsonl", rows)
    for name, extra in files.items():
        write_jsonl(tmp_path / name, extra)
    spec = {"task": task, "model": "some/model", "output_dir": "out", "data": {"train": "train.jsonl"}}
    for key, value in overrides.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) and key in spec else value
    return job_file(tmp_path / "job.json", **spec)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_in_one_line(case, tmp_path):
    task, overrides, rows, files, code, message = CASES[case]
    result = run_template(task, ["--config", str(make_job(tmp_path, task, overrides, rows, files))], tmp_path)
    assert_failed(result, code, message)
    assert result.wall_s < 5  # refused before torch was imported


def test_unknown_key_suggests_the_closest_name(tmp_path):
    job = make_job(tmp_path, "sft", *CASES["unknown-key"][1:4])
    result = run_template("sft", ["--config", str(job)], tmp_path)
    assert "(did you mean 'training.seq_len'?)" in result.stderr


def test_invalid_jsonl_names_the_line(tmp_path):
    job = make_job(tmp_path, "sft", {}, CHAT, {})
    (tmp_path / "train.jsonl").write_text(json.dumps(CHAT[0]) + "\n{not json\n")
    assert_failed(run_template("sft", ["--config", str(job)], tmp_path), 2, "line 2")


def test_invalid_yaml_config(tmp_path):
    (tmp_path / "job.yaml").write_text("task: sft\ntraining: [unclosed\n")
    result = run_template("sft", ["--config", str(tmp_path / "job.yaml")], tmp_path)
    assert_failed(result, 2, "not valid JSON/YAML")


def test_unknown_set_key_is_refused(tmp_path):
    job = make_job(tmp_path, "dpo", {}, PREFS, {})
    result = run_template("dpo", ["--config", str(job), "--set", "training.lr=0.1"], tmp_path)
    assert_failed(result, 2, "unknown key 'training.lr' in --set")


def test_liger_kernels_without_the_package_exit_2(tmp_path):
    assert importlib.util.find_spec("liger_kernel") is None, "this test needs an environment without it"
    job = make_job(tmp_path, "sft", {"training": {"kernels": "liger"}}, CHAT, {})
    assert_failed(run_template("sft", ["--config", str(job)], tmp_path), 2, "needs the liger-kernel package")


@pytest.mark.parametrize("task", ["sft", "dpo", "classify", "embed", "smoke"])
def test_require_resume_without_a_checkpoint_exits_3(task, tmp_path):
    pairs = [{"anchor": "a", "positive": "b"}] * 5
    rows = {"sft": CHAT, "dpo": PREFS, "classify": TOPICS * 5, "embed": pairs}
    job = make_job(tmp_path, task, {}, rows.get(task, CHAT), {})
    result = run_template(task, ["--config", str(job), "--require-resume"], tmp_path)
    assert_failed(result, 3, "--require-resume: no checkpoint under")
