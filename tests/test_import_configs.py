"""Issue 16 item 2: another tool's config read as a tuneplan job (``plan --spec``, ``tuneplan import``): the keys
that change memory, time or data are read, the stack is the tool's, every other key is named as ignored.
The configs in tests/fixtures/foreign_configs are written in each tool's documented format."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from planner.spec import load_spec
from tests.cli_inprocess import run_cli

CONFIGS = Path(__file__).parent / "fixtures" / "foreign_configs"


def test_an_axolotl_qlora_config_plans_as_the_axolotl_stack(capsys):
    code, out, err = run_cli(capsys, "plan", "--spec", str(CONFIGS / "axolotl-qlora.yaml"), "--json")
    assert code == 0, err
    plan = json.loads(out)
    job = plan["job"]
    assert plan["stack"] == "axolotl" and job["method"] == "qlora" and job["quant"] == "nf4"
    assert (job["seq_len"], job["micro_batch"], job["grad_accum"], job["lora_r"]) == (4096, 2, 4, 32)
    assert job["packing"] and job["attn"] == "flash" and job["lora_targets"] == "all-linear"
    note = next(n for n in plan["notes"] if n.startswith("read as an axolotl config"))
    ignored = note.split("ignored: ")[1].split(", ")
    assert "lr_scheduler" in ignored and "tokenizer_type" in ignored and "sequence_len" not in ignored


def test_a_llama_factory_lora_config_reads_its_own_key_names():
    spec = load_spec(CONFIGS / "llama-factory-lora.yaml")
    assert spec.model == "meta-llama/Llama-3.1-8B-Instruct" and spec.method == "lora"
    assert spec.training.stack == "llama-factory" and spec.training.seq_len == 2048
    assert (spec.training.micro_batch_size, spec.training.grad_accum, spec.training.epochs) == (1, 8, 3.0)
    assert spec.lora.r == 8 and spec.lora.target_tuple() is None and spec.data.train == "identity"
    assert any("ignored: " in n and "template" in n and "ddp_timeout" in n for n in spec._import_notes)


def test_a_trl_config_is_the_stack_our_templates_run():
    spec = load_spec(CONFIGS / "trl-sft.yaml")
    assert spec.method == "qlora" and spec.quantization == "nf4" and spec.training.stack == "tuneplan"
    assert spec.training.seq_len == 4096 and spec.training.packing and spec.lora.r == 32


def test_import_writes_a_spec_that_plans_the_same(capsys, tmp_path):
    target = tmp_path / "job.yaml"
    code, out, err = run_cli(capsys, "import", str(CONFIGS / "axolotl-qlora.yaml"), "-o", str(target))
    assert code == 0 and "ignored" in err, err
    written = yaml.safe_load(target.read_text())
    assert written["training"]["stack"] == "axolotl" and written["model"] == "meta-llama/Llama-3.1-8B"
    _, direct, _ = run_cli(capsys, "plan", "--spec", str(CONFIGS / "axolotl-qlora.yaml"), "--json")
    _, via_spec, _ = run_cli(capsys, "plan", "--spec", str(target), "--json")
    assert json.loads(direct)["peak_vram_gib"] == json.loads(via_spec)["peak_vram_gib"]
    code, _, err = run_cli(capsys, "import", str(CONFIGS / "axolotl-qlora.yaml"), "-o", str(target))
    assert code == 2 and "nothing is overwritten" in err
    code, _, err = run_cli(capsys, "import", str(Path(__file__).parents[1] / "examples" / "tiny-sft.yaml"))
    assert code == 2 and "already a tuneplan spec" in err


def test_a_hostile_config_is_one_line_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "axolotl.yaml"
    bad.write_text(yaml.safe_dump({"base_model": "gpt2", "plugins": 5, "datasets": [{"path": 7}],
                                   "sequence_len": "long"}))
    code, _, err = run_cli(capsys, "plan", "--spec", str(bad))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
