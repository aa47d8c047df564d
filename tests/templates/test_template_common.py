"""What every template shares: the generated blocks are identical, the dependency pins match the requirement
files and the tested versions, the top level imports only the standard library, and settings layer as
documented (defaults < file < flags)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys

import pytest
from template_helpers import TEMPLATES, load_template

TASKS = ("sft", "dpo", "classify", "embed", "smoke")
ML_TASKS = TASKS[:4]


def block(task: str, name: str) -> str:
    text = (TEMPLATES / f"{task}.py").read_text()
    match = re.search(rf"^# >>> {name}:.*?$(.*?)^# <<< {name}$", text, re.DOTALL | re.MULTILINE)
    assert match, f"{task}.py has no '{name}' block"
    return match.group(1)


@pytest.mark.parametrize("name, tasks", [("common", TASKS), ("ml-common", ML_TASKS)])
def test_shared_blocks_are_identical_copies(name, tasks):
    reference = block("sft", name)
    for task in tasks:
        assert block(task, name) == reference, f"{task}.py's '{name}' block differs: run `make templates`"


def header_dependencies(task: str) -> list[str]:
    text = (TEMPLATES / f"{task}.py").read_text()
    header = re.search(r"^# /// script$(.*?)^# ///$", text, re.DOTALL | re.MULTILINE)
    assert header, f"{task}.py has no PEP 723 header"
    return re.findall(r'^#\s+"([^"]+)",$', header.group(1), re.MULTILINE)


@pytest.mark.parametrize("task", ML_TASKS)
def test_dependencies_are_pinned_to_the_tested_versions(task):
    deps = header_dependencies(task)
    lines = (TEMPLATES / f"requirements-{task}.txt").read_text().splitlines()
    assert deps == [line for line in lines if line and not line.startswith("#")]
    for dep in deps:
        name, _, pinned = dep.partition("==")
        assert importlib.metadata.version(name).split("+")[0] == pinned, dep


def test_smoke_needs_nothing_installed():
    assert header_dependencies("smoke") == []
    assert not (TEMPLATES / "requirements-smoke.txt").exists()


def test_top_level_imports_only_the_standard_library():
    """Heavy imports live inside functions: --help, bad input and smoke jobs never pay for torch."""
    code = (
        "import importlib.util, json, sys\n"
        f"for task in {list(TASKS)!r}:\n"
        f"    spec = importlib.util.spec_from_file_location(task, {str(TEMPLATES)!r} + f'/{{task}}.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "heavy = ('torch', 'transformers', 'trl', 'peft', 'datasets', 'sentence_transformers', 'numpy',\n"
        "         'yaml')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("task", TASKS)
def test_each_template_documents_its_usage(task):
    module = load_template(task)
    assert "Usage:" in module.__doc__ and f"{task}.py --config job.json" in module.__doc__
    assert "Exit codes: 0 done, 2 bad input" in " ".join(module.__doc__.split())
    help_text = subprocess.run([sys.executable, str(TEMPLATES / f"{task}.py"), "--help"], capture_output=True,
                               text=True, check=True).stdout
    for flag in ("--config", "--output-dir", "--max-steps", "--set", "--validate-only", "--require-resume"):
        assert flag in help_text


def test_package_init_holds_only_its_docstring():
    tree = __import__("ast").parse((TEMPLATES / "__init__.py").read_text())
    assert len(tree.body) == 1 and isinstance(tree.body[0].value.value, str), "the package marker runs no code"


def test_settings_layer_defaults_then_file_then_flags(tmp_path):
    smoke = load_template("smoke")
    (tmp_path / "bundle" / "model").mkdir(parents=True)
    (tmp_path / "bundle" / "job.json").write_text(json.dumps({
        "task": "smoke", "model": "model", "owner": "alice", "output_dir": "out",
        "data": {"train": "data/train.jsonl", "eval": "hub:org/set:test"},
        "training": {"seq_len": 512, "epochs": 2, "learning_rate": 1e-4},
    }))
    args = smoke.parse_args([
        "--config", str(tmp_path / "bundle" / "job.json"), "--epochs", "5", "--set", "training.seq_len=256",
        "--set", 'lora.targets=["q_proj", "v_proj"]', "--set", 'training={"grad_accum": 4}',
        "--set", "outputs.push_to_hub=me/model",
    ])
    cfg = smoke.resolve_config(args)
    bundle = tmp_path / "bundle"
    assert cfg["training.micro_batch_size"] == smoke.DEFAULTS["training.micro_batch_size"]  # default
    assert cfg["training.learning_rate"] == 1e-4  # file
    assert (cfg["training.epochs"], cfg["training.seq_len"], cfg["training.grad_accum"]) == (5, 256, 4)
    assert cfg["lora.targets"] == ["q_proj", "v_proj"] and cfg["outputs.push_to_hub"] == "me/model"
    assert cfg["data.train"] == str(bundle / "data" / "train.jsonl")
    assert cfg["data.eval"] == "hub:org/set:test"  # a Hub reference is not a path
    assert (cfg["model"], cfg["output_dir"]) == (str(bundle / "model"), str(bundle / "out"))
    assert smoke.nested(cfg)["training"]["seq_len"] == 256 and "owner" not in cfg


def test_rows_load_from_jsonl_json_csv_and_parquet(tmp_path):
    import pyarrow
    import pyarrow.parquet

    sft = load_template("sft")
    rows = [{"text": "rain today", "label": "weather"}, {"text": "pizza night", "label": "food"}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n\n" for r in rows))  # blank lines skipped
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "a.csv").write_text("text,label\nrain today,weather\npizza night,food\n")
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), tmp_path / "a.parquet")
    for suffix in ("jsonl", "json", "csv", "parquet"):
        assert sft.read_rows(str(tmp_path / f"a.{suffix}"), "data.train") == rows, suffix
    with pytest.raises(sft.BadInput, match="unsupported file type '.txt'"):
        sft.read_rows(str(tmp_path / "a.txt"), "data.train")
