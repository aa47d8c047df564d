"""Issue 21: the everyday questions — impossible settings refused with the limit named, the catalogs listed,
``--version`` and ``-h`` (the serving, rent-vs-buy, fit and local-option answers have their own files)."""

from __future__ import annotations

import json

import pytest

from tests.cli_inprocess import cli_json, run_cli


def test_bert_past_its_512_positions_is_refused_naming_the_limit(capsys):
    code, out, err = run_cli(capsys, "plan", "--model", "bert-base-uncased", "--task", "classify", "--method",
                             "full", "--seq-len", "2048")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "at most 512 tokens" in err and "2,048" in err


def test_a_million_tokens_is_refused_for_llama_3_1(capsys):
    code, _, err = run_cli(capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--method", "qlora",
                           "--seq-len", "1000000")
    assert code == 2 and "at most 131,072 tokens" in err


def test_an_encoder_cannot_be_given_a_generative_task(capsys):
    code, _, err = run_cli(capsys, "plan", "--model", "bert-base-uncased", "--task", "sft", "--method", "full",
                           "--seq-len", "256")
    assert code == 2 and "is an encoder" in err and "--task classify" in err


def test_the_default_sequence_length_follows_the_model_and_a_given_one_is_kept(capsys):
    bert = cli_json(capsys, "plan", "--model", "bert-base-uncased", "--task", "classify", "--method", "full")
    assert bert["job"]["seq_len"] == 512, "the 2,048 default is shortened to what BERT reads"
    llama = cli_json(capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--method", "qlora")
    assert llama["job"]["seq_len"] == 2048


def test_unusual_settings_are_noted_not_refused(capsys):
    out = cli_json(capsys, "plan", "--model", "meta-llama/Llama-3.2-1B", "--method", "lora", "--lora-r", "1024")
    assert any("unusually high" in note for note in out["notes"])


def test_version_and_short_help(capsys):
    from tuneplan import __version__

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"tuneplan {__version__}"
    code, out, _ = run_cli(capsys, "plan", "-h")
    assert code == 0 and "--seq-len" in out and "Usage" in out
    code, out, _ = run_cli(capsys, "-h")
    assert code == 0 and "models" in out and "gpus" in out


def test_models_lists_the_catalog_and_filters_it(capsys):
    every = cli_json(capsys, "models")["models"]
    llama = cli_json(capsys, "models", "LLAMA")["models"]
    assert 0 < len(llama) < len(every)
    assert all("llama" in (m["hf_id"] + m["family"]).lower() for m in llama)
    bert = next(m for m in every if m["hf_id"].endswith("bert-base-uncased"))
    assert bert["max_seq_len"] == 512 and bert["kind"] != "causal-lm"
    code, out, _ = run_cli(capsys, "models", "no-such-model-xyz")
    assert code == 1 and "Any Hub id also works" in out
    code, out, _ = run_cli(capsys, "models", "qwen")
    assert code == 0 and "Qwen" in out and "Context" in out


def test_gpus_lists_memory_bandwidth_and_dated_prices(capsys):
    payload = cli_json(capsys, "gpus")
    h100 = next(g for g in payload["gpus"] if g["gpu"] == "H100")
    assert h100["memory_gib"] > 79 and h100["bandwidth_gb_s"] == 3350
    assert h100["rent_usd_per_gpu_hour"] and h100["rent_as_of"] and h100["rent_cloud"]
    assert any(chip["chip"].startswith("M") for chip in payload["apple"])
    code, out, _ = run_cli(capsys, "gpus")
    assert code == 0 and "RTX4090" in out and "Apple silicon" in out


@pytest.mark.parametrize("hours", ["745", "1000"])
def test_rent_vs_buy_refuses_more_hours_than_a_month_has(capsys, hours):
    code, _, err = run_cli(capsys, "rent-vs-buy", "--gpu", "RTX4090", "--hours-per-month", hours)
    assert code == 2 and "744" in err


def test_the_catalog_json_is_plain_data(capsys):
    code, out, _ = run_cli(capsys, "models", "bert", "--json")
    assert code == 0 and json.loads(out)["search"] == "bert"


def test_a_70b_model_does_not_fit_a_24_gb_card_for_serving_but_fits_an_ultra(capsys):
    """Issue 21 item 1: 40 GiB of nf4 70B was ranked on an RTX4090 at 18 tok/s ahead of an M3 Ultra."""
    inf = cli_json(capsys, "plan", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--inference", "--quant",
                   "nf4")["inference"]
    rtx = inf["fits"]["RTX4090"]
    assert rtx["fits"] is False and rtx["memory_gib"] < inf["total_gib"]
    assert rtx["gpus"] == 2 and rtx["per_gpu_gib"] <= rtx["memory_gib"], "two cards, tensor parallel, hold it"
    assert inf["fits"]["Apple M3 Ultra"]["fits"] is True
    m4 = inf["fits"]["Apple M4"]
    assert m4["fits"] is False and m4["decode_tokens_per_s"] == 0
    assert inf["verdict"]["can_serve"] and "Apple M4" not in inf["verdict"]["can_serve"]
    h100 = inf["fits"]["H100"]
    assert h100["fits"] and h100["decode_tokens_per_s"] > inf["fits"]["Apple M3 Ultra"]["decode_tokens_per_s"]
    assert inf["fits"]["Apple M4 Pro"]["price_usd"] is None, "the base M4 Pro's price buys 24 GB, not 48 GiB usable"


def test_an_encoder_is_served_in_sequences_per_second_without_a_kv_cache(capsys):
    inf = cli_json(capsys, "plan", "--model", "bert-base-uncased", "--task", "classify", "--inference")["inference"]
    assert inf["encoder"] and inf["kv_cache_gib"] == 0 and inf["decode_tokens_per_s"] == {}
    assert inf["context"] == 512 and inf["fits"]["RTX4090"]["sequences_per_s"] > 0
    code, _, err = run_cli(capsys, "plan", "--model", "bert-base-uncased", "--task", "classify", "--inference",
                           "--context", "4096")
    assert code == 2 and "at most 512" in err


def test_max_fit_finds_the_largest_batch_and_sequence_the_estimator_fits():
    """The largest micro-batch fits the card, one more does not (the estimator is the judge)."""
    from dataclasses import replace

    from planner.catalog.gpus import find_gpu
    from planner.estimate.setup import TrainingSetup
    from planner.fit_search import SEQ_STEP, largest_micro_batch, largest_seq_len
    from planner.fit_search import safe_peak_gib as peak_gib  # what "fits" means: the upper bound fits
    from planner.models import resolve_local

    arch = resolve_local("meta-llama/Llama-3.1-8B-Instruct").arch
    setup = TrainingSetup(method="lora", seq_len=2048, micro_batch=1).validated()
    for gpu in ("RTX4090", "A100-80GB", "L4"):
        card = find_gpu(gpu).smi_memory_gib
        batch = largest_micro_batch(arch, setup, card)
        assert batch >= 1 and peak_gib(arch, replace(setup, micro_batch=batch)) <= card
        assert peak_gib(arch, replace(setup, micro_batch=batch + 1)) > card
        seq = largest_seq_len(arch, setup, card)
        assert seq % SEQ_STEP == 0 and peak_gib(arch, replace(setup, seq_len=seq)) <= card
        assert peak_gib(arch, replace(setup, seq_len=seq + SEQ_STEP)) > card


def test_a_plan_that_does_not_fit_says_no_and_what_would(capsys):
    out = cli_json(capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--method", "full", "--gpu",
                   "RTX4090")
    fit = out["fits"]["RTX4090"]
    assert fit["fit"] == "no" and not fit["fits"]  # CONTRACTS §12: fits[gpu].fit
    changes = {c["what"]: c for c in fit["to_fit"]["changes"]}
    assert changes["QLoRA (nf4 base weights)"]["fits"] and changes["QLoRA (nf4 base weights)"]["peak_gib"] < 24
    assert changes["FSDP over 4 cards"]["fits"] and not changes["FSDP over 2 cards"]["fits"]
    code, text, _ = run_cli(capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--method", "full",
                            "--gpu", "RTX4090")
    assert "Where it fits" not in text and "it fits on none of 1" in text and "Does not fit on RTX4090" in text
    assert set(out["weights_by_dtype"]) == {"fp32", "bf16/fp16", "int8", "nf4"}
    assert out["weights_by_dtype"]["bf16/fp16"]["weights_gib"] == pytest.approx(
        out["weights_by_dtype"]["fp32"]["weights_gib"] / 2, rel=0.01)


def test_a_fit_within_the_estimators_error_is_tight(capsys):
    """Issue 16 item 3 / CONTRACTS §12: fits[gpu].fit is yes only when the upper bound fits; the boolean
    fits follows it; a tight fit says what would fit safely."""
    from planner.estimate.bounds import fit_of

    assert fit_of(20.0, 21.0, 24.0) == "yes" and fit_of(22.5, 24.6, 24.0) == "tight" and fit_of(24.5, 26, 24.0) == "no"
    for seq in range(2048, 32768, 256):  # find a sequence length where the L4 is tight for this job
        out = cli_json(capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--method", "qlora",
                       "--gpu", "L4", "--seq-len", str(seq))
        if out["fits"]["L4"]["fit"] == "tight":
            break
    fit = out["fits"]["L4"]
    assert fit["fit"] == "tight" and fit["fits"] is False and fit["headroom_gib"] >= 0
    assert out["peak_vram_gib"] <= fit["memory_gib"] < out["peak_vram_upper_gib"]
    assert fit["to_fit"]["largest_seq_len"] < int(out["job"]["seq_len"])


def test_max_fit_flag_reaches_the_json(capsys):
    out = cli_json(capsys, "plan", "--model", "meta-llama/Llama-3.2-1B", "--method", "lora", "--gpu", "L4",
                   "--max-fit")
    m = out["fits"]["L4"]["max_fit"]
    assert m["micro_batch"] >= 1 and m["seq_len"] >= 2048 and m["at_seq_len"] == 2048
