"""Every problem with a job spec is exit 2 and one line naming the field; sizes have sane upper bounds; secret
names are environment-variable names (issue: nothing from outside can run as code).

A binary file, a folder given as the spec and ``seq_len: 99999999999999999999999`` used to give a traceback
or be accepted; ``secrets: ["A;touch x"]`` passed and the printed hand-launch hint ran a command when pasted.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import BadInput
from planner.spec import load_spec, spec_from_dict
from providers.types import LaunchPlan
from tests.cli_inprocess import run_cli

BASE = {"name": "job", "model": "Qwen/Qwen2.5-0.5B"}


@pytest.mark.parametrize("change, field", [
    ({"training": {"seq_len": 99999999999999999999999}}, "training.seq_len"),
    ({"training": {"epochs": float("inf")}}, "training.epochs"),
    ({"training": {"learning_rate": float("nan")}}, "training.learning_rate"),
    ({"training": {"micro_batch_size": 10**12}}, "training.micro_batch_size"),
    ({"resources": {"gpus": 10**6}}, "resources.gpus"),
    ({"resources": {"max_total_usd": 1e300}}, "resources.max_total_usd"),
    ({"data": {"examples": 10**30}}, "data.examples"),
    ({"lora": {"r": 2**40}}, "lora.r"),
    ({"training": {"seed": -1}}, "training.seed"),
    ({"secrets": ["A;touch x"]}, "secrets"),
    ({"secrets": ["X Y"]}, "secrets"),
    ({"secrets": ["1ABC"]}, "secrets"),
    ({"project": "ml\x1b[2Jteam"}, "project"),
    ({"project": ""}, "project"),
    ({"owner": "x" * 500}, "owner"),
])
def test_a_value_out_of_bounds_is_one_line_naming_its_field(change, field):
    with pytest.raises(BadInput) as caught:
        spec_from_dict({**BASE, **change})
    message = str(caught.value)
    assert f"'{field}'" in message and "\n" not in message and len(message) < 300


def test_names_with_markup_or_formulas_are_allowed_as_text():
    spec = spec_from_dict({**BASE, "project": "ml-[/team]", "owner": "=HYPERLINK(1)", "secrets": ["HF_TOKEN", "_X1"]})
    assert spec.project == "ml-[/team]" and spec.secrets == ["HF_TOKEN", "_X1"]


def _spec_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda tmp: _spec_file(tmp, "binary.yaml", bytes(range(256)) * 8), "not a text file"),
    (lambda tmp: _spec_file(tmp, "nul.yaml", b"name: x\x00\nmodel: y\n"), "not a text file"),
    (lambda tmp: tmp, "a folder"),
    (lambda tmp: tmp / "missing.yaml", "no such file"),
    (lambda tmp: _spec_file(tmp, "huge.yaml", b"# " + b"x" * (2 << 20) + b"\n"), "larger than"),
    (lambda tmp: _spec_file(tmp, "deep.yaml", b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"), "job spec"),
    (lambda tmp: _spec_file(tmp, "bad.yaml", b"name: [unclosed\n"), "not valid YAML"),
])
def test_a_spec_that_is_not_a_sane_file_is_exit_2_and_one_line(tmp_path, capsys, make, words):
    path = make(tmp_path)
    for command in ("plan", "recommend"):
        code, out, err = run_cli(capsys, command, "--spec", str(path))
        assert code == 2, (command, out, err)
        assert err.count("\n") == 1 and words in err and "Traceback" not in err, err
    code, _, err = run_cli(capsys, "launch", str(path), "--yes")
    assert code == 2 and err.count("\n") == 1, err


def test_a_flag_out_of_bounds_is_one_line_too(capsys):
    code, _, err = run_cli(capsys, "plan", "--spec", "examples/qwen7b-qlora-sft.yaml", "--seq-len", "99999999999999")
    assert code == 2 and "seq_len" in err and err.count("\n") == 1


YAML_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                           max_leaves=20)
KEYS = st.sampled_from(["name", "project", "owner", "task", "model", "method", "quantization", "lora", "data",
                        "training", "resources", "secrets", "outputs", "smoke", "spectrum", "nonsense"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, YAML_VALUES, max_size=6))
def test_any_mapping_is_a_spec_or_one_bad_input_line(raw):
    try:
        spec = spec_from_dict({**BASE, **raw})
    except BadInput as exc:
        assert "\n" not in str(exc)
        return
    assert spec.name and spec.training.seq_len <= 100_000_000


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_a_spec_or_one_bad_input_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("spec") / "job.yaml"
    path.write_bytes(data)
    try:
        load_spec(path)
    except BadInput as exc:
        assert "\n" not in str(exc)


def test_the_hand_launch_hint_is_safe_to_paste(tmp_path):
    from providers.skypilot.task_config import hand_launch_hint

    task = tmp_path / "my tasks; rm -rf ~" / "task.yaml"
    plan = LaunchPlan(run_id="job-20261203-120000-ab12", owner="ana", host="h", max_runtime_s=600,
                      secrets=("HF_TOKEN",))
    hint = hand_launch_hint(task, plan, 15).removeprefix("launch it by hand: ")
    words = shlex.split(hint)
    assert words[:4] == ["sky", "launch", "-c", "tp-job-20261203-120000-ab12"]
    assert words[-1] == str(task) and "--secret" in words and "HF_TOKEN" in words
    assert any(w.startswith("TUNEPLAN_DEADLINE=$((") for w in words)


def test_a_spec_yaml_written_back_by_the_cli_still_loads(tmp_path):
    raw = {**BASE, "project": "=SUM(1)", "secrets": ["HF_TOKEN"]}
    path = _spec_file(tmp_path, "job.yaml", yaml.safe_dump(raw).encode())
    assert load_spec(path).project == "=SUM(1)"
