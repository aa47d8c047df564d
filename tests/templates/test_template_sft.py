"""templates/sft.py: real training of a tiny Llama on CPU for every method and data format, resume and
validate-only, plus direct tests of the length checks, the chat-template fallback and QLoRA's dtype policy."""

from __future__ import annotations

import json

import pytest
from template_helpers import (
    assert_failed,
    assert_loss_fell,
    assert_succeeded,
    chat_rows,
    load_template,
    read_metrics,
    verify_manifest,
)

pytestmark = pytest.mark.slow
sft = load_template("sft")


def generate(model, tokenizer, prompt: str) -> str:
    import torch

    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:])


def test_lora_on_chat_data_learns_and_reports_progress(sft_lora_run):
    first, _ = sft_lora_run
    assert_succeeded(first)
    assert_loss_fell(first, by=0.3)
    assert {p["total_steps"] for p in first.progress} == {30}
    assert first.progress[-1]["step"] == 30 and first.progress[-1]["eta_s"] == 0


def test_lora_rerun_resumes_from_the_last_checkpoint(sft_lora_run):
    _, second = sft_lora_run
    assert_succeeded(second)
    assert "resuming from" in second.stderr and "checkpoint-30" in second.stderr
    assert second.progress[0]["step"] > 30 and second.progress[-1]["step"] == 35
    metrics = read_metrics(second.out, "sft", "lora")
    assert metrics["resumed_from"].endswith("checkpoints/checkpoint-30")
    assert metrics["train"]["epoch"] == pytest.approx(36 * 4 / len(chat_rows()))


def test_lora_outputs_verify_and_the_adapter_generates(sft_lora_run, workspace):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = sft_lora_run[1].out
    verify_manifest(out)
    metrics = read_metrics(out, "sft", "lora")
    assert metrics["eval"]["eval_loss"] < metrics["eval"]["history"][0]["eval_loss"]
    assert [h["step"] for h in metrics["eval"]["history"]][:3] == [10, 20, 30]
    resolved = json.loads((out / "resolved_config.json").read_text())
    assert resolved["training"]["max_steps"] == 36 and resolved["data"]["format"] == "chat"
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(workspace.llama), out)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # LoRA B starts at zero: nonzero means trained
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "what does the cat say?"}],
                                           tokenize=False, add_generation_prompt=True)
    generate(model, tokenizer, prompt)


def test_full_finetune_on_prompt_completion_with_packing(sft_full_run, workspace):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert_succeeded(sft_full_run)
    assert_loss_fell(sft_full_run, by=1.0)
    verify_manifest(sft_full_run.out)
    read_metrics(sft_full_run.out, "sft", "full")
    tuned = AutoModelForCausalLM.from_pretrained(sft_full_run.out)
    base = AutoModelForCausalLM.from_pretrained(workspace.llama)
    assert not torch.equal(tuned.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight)
    assert generate(tuned, AutoTokenizer.from_pretrained(sft_full_run.out), "the cow says").strip()


def test_qlora_on_plain_text_trains_a_4bit_base(sft_qlora_run, workspace):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    assert_succeeded(sft_qlora_run)
    assert_loss_fell(sft_qlora_run, by=0.3)
    verify_manifest(sft_qlora_run.out)
    read_metrics(sft_qlora_run.out, "sft", "qlora")
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)
    base = AutoModelForCausalLM.from_pretrained(workspace.llama, quantization_config=quant,
                                                device_map={"": "cpu"})
    model = PeftModel.from_pretrained(base, sft_qlora_run.out)
    generate(model, AutoTokenizer.from_pretrained(sft_qlora_run.out), "the dog says")


def test_qlora_adapter_is_merged_into_an_unquantized_copy_on_request(sft_qlora_run, workspace):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(sft_qlora_run.out / "merged")
    base = AutoModelForCausalLM.from_pretrained(workspace.llama)
    assert not hasattr(merged.config, "quantization_config")
    weight = "model.layers.1.self_attn.v_proj.weight"
    assert not torch.equal(merged.get_parameter(weight), base.get_parameter(weight))
    generate(merged, AutoTokenizer.from_pretrained(sft_qlora_run.out), "the dog says")
    verdict = json.loads((sft_qlora_run.out / "merged" / "merge.json").read_text())
    assert verdict["quantized_base_merged_unquantized"] and verdict["ok"] and verdict["inputs"] == 4, verdict
    assert verdict["top1_agreement"] == 1.0 and verdict["max_abs_logit_diff"] <= verdict["tolerance"]
    assert read_metrics(sft_qlora_run.out, "sft", "qlora")["merge"] == verdict, "the run's metrics say it too"


def test_spectrum_trains_only_the_selected_matrices(sft_spectrum_run, workspace):
    import torch
    from transformers import AutoModelForCausalLM

    assert_succeeded(sft_spectrum_run)
    assert_loss_fell(sft_spectrum_run, by=0.3)
    verify_manifest(sft_spectrum_run.out)
    read_metrics(sft_spectrum_run.out, "sft", "spectrum")
    tuned = dict(AutoModelForCausalLM.from_pretrained(sft_spectrum_run.out).named_parameters())
    base = dict(AutoModelForCausalLM.from_pretrained(workspace.llama).named_parameters())
    changed = {name for name, p in base.items() if not torch.equal(p, tuned[name])}
    by_type: dict[str, int] = {}
    for name in changed:
        by_type[name.split(".")[-2]] = by_type.get(name.split(".")[-2], 0) + 1
    # top_fraction 0.5 of the 2 layers: exactly one matrix per module type; heads and norms untouched
    types = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    assert by_type == dict.fromkeys(types, 1)


def test_validate_only_checks_without_training(sft_validate_run):
    assert sft_validate_run.code == 0, sft_validate_run.stderr[-2000:]
    assert "validate-only: ok" in sft_validate_run.stdout and sft_validate_run.done == {"ok": True}
    assert not sft_validate_run.out.exists()


def test_validate_only_refuses_data_longer_than_seq_len(sft_too_long_run):
    assert_failed(sft_too_long_run, 2, "every example is longer than training.seq_len=4")


def config(workspace, **overrides) -> dict:
    cfg = {**sft.DEFAULTS, "model": str(workspace.llama), "data.train": "x", "output_dir": "x",
           "training.seq_len": 64, **overrides}
    sft.validate_config(cfg)
    return cfg


def test_seq_len_beyond_the_model_is_bad_input(workspace):
    with pytest.raises(sft.BadInput, match="exceeds the model's max_position_embeddings 128"):
        sft.load_tokenizer(config(workspace, **{"training.seq_len": 4096}))


def test_chat_template_without_generation_markers_falls_back_with_a_note(workspace, capsys):
    tokenizer = sft.load_tokenizer(config(workspace))
    assert sft.assistant_mask_ok(tokenizer)
    tokenizer.chat_template = tokenizer.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", "")
    assert not sft.assistant_mask_ok(tokenizer)
    assert "no {% generation %} markers" in capsys.readouterr().err


def test_qlora_keeps_unquantized_weights_in_the_compute_dtype(workspace):
    """The planner's memory model: 4-bit linears, and embeddings/norms/lm_head in bf16 rather than fp32."""
    import torch

    model, dtype = sft.load_model(config(workspace, method="qlora"), torch, "cpu", bf16=True, fp16=False)
    assert dtype == torch.bfloat16 and model.is_loaded_in_4bit
    assert model.model.layers[0].self_attn.q_proj.weight.dtype == torch.uint8
    for module in (model.model.embed_tokens, model.model.norm, model.lm_head):
        assert module.weight.dtype == torch.bfloat16
    assert model.config.quantization_config.bnb_4bit_use_double_quant
