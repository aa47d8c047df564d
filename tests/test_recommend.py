"""Recommendation: every candidate measured, ranked and tagged; filters, headroom, multi-GPU sharding,
local electricity costs, fixed-cost terms, reasons, the JSON contract (CONTRACTS §4) and the CLI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from planner.catalog.prices import snapshot
from planner.estimate.setup import TrainingSetup
from planner.models import resolve_local
from planner.plan import DataSize
from planner.recommend import Constraints, Electricity, Job, LocalMachine, recommend
from planner.recommend import costs
from planner.recommend.local import LocalCpu, LocalGpu, LocalMac
from tests.cli_inprocess import cli_json, run_cli

TODAY = date(2026, 11, 26)
KWH = Electricity(Decimal("0.30"), "settings", False)
CONTRACT_KEYS = {"provider", "cloud", "gpu", "gpus", "spot", "region", "fits", "headroom_gib", "hours", "usd",
                 "usd_per_hour", "price_source", "price_as_of", "price_approx", "launchable", "why", "reason",
                 "tags", "cost_terms"}


def job(model: str, data: DataSize = DataSize(5000, 600, 3), **setup) -> Job:
    return Job(resolve_local(model), TrainingSetup(**setup).validated(), data)


QLORA_8B = job("meta-llama/Llama-3.1-8B-Instruct", method="qlora", quant="nf4", micro_batch=2)
LORA_70B = job("meta-llama/Llama-3.1-70B-Instruct", DataSize(20000, 900, 1), method="lora", seq_len=4096, packing=True)
BERT = job("google-bert/bert-base-uncased", DataSize(20000, 128, 3), task="classify", method="full", seq_len=256,
           micro_batch=32, grad_ckpt=False)
DESK = LocalMachine(cpu=LocalCpu("AMD Ryzen 9 7950X 16-Core Processor", 16, 64.0, "avx512"),
                    mac=LocalMac("M3 Max", 64), gpus=(LocalGpu("RTX4090", label="under the desk"),))


def run(j: Job, machine: LocalMachine = LocalMachine(), **constraints):
    return recommend(j, snapshot(), machine, Constraints(**constraints), TODAY, KWH)


@pytest.fixture(scope="module")
def qlora():
    return run(QLORA_8B, DESK)


def test_json_contract(qlora):
    out = qlora.to_json()
    assert set(out) == {"job", "local", "candidates"} and out["job"]["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    for c in out["candidates"]:
        assert CONTRACT_KEYS <= set(c)
        assert c["provider"] in ("local", "skypilot", "modal", "runpod")
        assert c["cloud"] in ("aws", "gcp", "azure", "lambda", "runpod", "modal", "local")
        assert Decimal(c["usd"]) == sum(Decimal(v) for v in c["cost_terms"].values())
        assert set(c["cost_terms"]) == {"gpu_hours", "host", "provisioning", "download", "storage"}
        assert isinstance(c["usd_per_hour"], str) and date.fromisoformat(c["price_as_of"])
        assert c["reason"]
        from planner.recommend.capabilities import CAPABILITIES

        assert c["launchable"] is True or c["why"]  # launchable unless a problem says why
        if not CAPABILITIES[c["provider"]].built:
            assert c["launchable"] is False and c["why"]
    assert out["job"]["deadline_assumed"] is True and "provisioning_minutes" in out["job"]["assumptions"]


def test_every_offer_and_local_device_is_a_candidate(qlora):
    kinds = {(c.provider, c.kind) for c in qlora.candidates}
    assert {("local", "cpu"), ("local", "mac"), ("local", "gpu"), ("runpod", "gpu"), ("skypilot", "gpu"),
            ("modal", "gpu")} <= kinds
    assert len([c for c in qlora.candidates if c.provider != "local" and c.nodes == 1]) == len(snapshot())
    several = [c for c in qlora.candidates if c.nodes > 1]
    assert several and {c.provider for c in several} == {"skypilot", "modal"} and all(c.gpus >= 4 for c in several)
    assert all(c.gpus == 8 for c in several if c.provider == "modal"), "Modal clusters take whole 8-GPU hosts"
    assert all(c.nodes in (2, 4) and c.device.startswith(f"{c.nodes} nodes × ") for c in several)


def test_ranked_fitting_within_constraints_first_cheapest_first(qlora):
    groups = [0 if c.fits and c.meets_deadline and c.within_budget else 1 if c.fits else 2 for c in qlora.candidates]
    assert groups == sorted(groups)
    first = [c.usd for c in qlora.candidates if c.fits and c.meets_deadline]
    assert first == sorted(first)


def test_tags_name_the_cheapest_fastest_and_cheapest_in_deadline():
    result = run(QLORA_8B, deadline_hours=1.0, max_usd=Decimal("5"))
    fits = [c for c in result.candidates if c.fits]
    tagged = {tag: c for c in result.candidates for tag in c.tags}
    assert set(tagged) == {"cheapest", "fastest", "cheapest_within_deadline"}
    assert tagged["cheapest"].usd == min(c.usd for c in fits)
    in_deadline = [c for c in fits if c.hours <= 1.0]
    assert tagged["cheapest_within_deadline"].usd == min(c.usd for c in in_deadline)
    assert tagged["fastest"].hours == min(c.hours for c in fits if c.usd <= 5)
    assert tagged["fastest"].within_budget


def test_budget_marks_over_budget():
    result = run(QLORA_8B, max_usd=Decimal("2"))
    over = [c for c in result.candidates if c.fits and not c.within_budget]
    assert over and all(c.usd > 2 for c in over) and all("over budget" in c.reason for c in over)


def test_provider_gpu_and_count_filters():
    only = run(QLORA_8B, DESK, providers=frozenset({"runpod"}))
    assert {c.provider for c in only.candidates} == {"runpod"}
    lambda_aws = run(QLORA_8B, providers=frozenset({"lambda", "aws"}))
    assert {c.cloud for c in lambda_aws.candidates} == {"lambda", "aws"}
    h100 = run(QLORA_8B, DESK, gpu_types=frozenset({"H100"}), gpu_counts=frozenset({1}))
    assert {(c.gpu, c.gpus) for c in h100.candidates} == {("H100", 1)}


def test_spot_prices_only_when_asked():
    assert not any(c.spot for c in run(QLORA_8B).candidates)
    spot = [c for c in run(QLORA_8B, spot=True).candidates if c.spot]
    g6e = next(c for c in spot if c.device.endswith("g6e.xlarge"))
    assert g6e.cost.usd_per_hour == Decimal("0.5261") and "interrupted" in g6e.reason


def test_headroom_is_card_minus_peak(qlora):
    for c in qlora.candidates:
        assert c.headroom_gib == pytest.approx(c.memory_gib - c.peak_gib, abs=0.01)
        assert c.fits == (c.headroom_gib >= 0)
    l4 = next(c for c in run(LORA_70B).candidates if c.gpu == "L4" and c.gpus == 1)
    assert not l4.fits and l4.headroom_gib < 0 and "short by" in l4.reason


def test_multi_gpu_uses_fsdp_when_one_gpu_is_not_enough():
    result = run(LORA_70B, providers=frozenset({"runpod"}))
    by = {(c.gpu, c.gpus, c.cloud, c.device): c for c in result.candidates}
    one = next(c for k, c in by.items() if k[0] == "H100" and k[1] == 1)
    eight = next(c for k, c in by.items() if k[0] == "H100" and k[1] == 8)
    assert not one.fits and "FSDP" in one.reason
    assert eight.fits and eight.sharding == "fsdp" and eight.peak_gib < one.peak_gib / 4
    assert "too big for one GPU" in eight.reason


def test_multi_gpu_uses_ddp_when_the_model_fits_on_one(qlora):
    four = next(c for c in qlora.candidates if c.gpu == "H100" and c.gpus == 4 and c.cloud == "runpod")
    one = next(c for c in qlora.candidates if c.gpu == "H100" and c.gpus == 1 and c.device == four.device.replace("4×", "1×"))
    assert four.sharding == "ddp" and four.train_hours < one.train_hours / 2


def test_full_fine_tune_of_14b_is_sharded_with_fsdp():
    full = run(job("Qwen/Qwen2.5-14B-Instruct", method="full"), gpu_types=frozenset({"H100"}))
    assert not any(c.fits for c in full.candidates if c.gpus == 1)
    multi = [c for c in full.candidates if c.gpus > 1]
    assert multi and all(c.fits and c.sharding == "fsdp" for c in multi)


def test_local_runs_cost_electricity(qlora):
    card = next(c for c in qlora.candidates if c.provider == "local" and c.kind == "gpu")
    rate = Decimal("465.0") / 1000 * Decimal("0.30")  # 450 W TDP × 0.9 + 60 W host, at $0.30/kWh
    assert card.cost.usd_per_hour == rate
    assert card.usd == costs.usd(rate * costs.dec_hours(card.train_hours))
    assert card.cost.fixed_hours == costs.LOCAL_STARTUP_S / 3600, "the job's own start, before the first step"
    assert card.price_source.startswith("electricity $0.30/kWh (settings)")
    assert "under the desk" in card.device


def test_fixed_cost_terms_for_a_rented_run(qlora):
    pod = next(c for c in qlora.candidates if c.cloud == "runpod" and c.gpu == "A40" and c.gpus == 1)
    setup_hours = Decimal(costs.PROVISIONING_MINUTES["runpod"] + costs.SETUP_MINUTES["runpod"]) / 60
    assert pod.cost.terms["provisioning"] == costs.usd(pod.cost.usd_per_hour * costs.dec_hours(float(setup_hours)))
    fetch = costs.download_hours(QLORA_8B.model.params_total)
    assert fetch == pytest.approx(8.03e9 * 2 / 200e6 / 3600, rel=0.01)
    assert pod.cost.terms["download"] == costs.usd(pod.cost.usd_per_hour * costs.dec_hours(fetch))
    assert pod.cost.terms["storage"] == 0 and pod.hours == pytest.approx(pod.train_hours + float(setup_hours) + fetch)
    aws = next(c for c in qlora.candidates if c.cloud == "aws" and c.fits)
    assert aws.cost.terms["storage"] > 0 or aws.hours < 2


def test_modal_adds_cpu_and_memory_to_the_gpu_price(qlora):
    modal = next(c for c in qlora.candidates if c.cloud == "modal" and c.gpu == "H100" and c.gpus == 1)
    host = (Decimal("0.0000131") * 4 + Decimal("0.00000222") * 32) * 3600  # 4 cores + 32 GiB = $0.444384/h
    assert modal.cost.usd_per_hour == Decimal("3.9492") + Decimal("0.4444") and host == Decimal("0.444384")
    assert modal.cost.terms["host"] > 0


def test_reasons_follow_practice(qlora):
    cpu = next(c for c in qlora.candidates if c.kind == "cpu")
    mac = next(c for c in qlora.candidates if c.kind == "mac")
    assert "generative model needs a GPU" in cpu.reason and "too slow to fine-tune" in mac.reason
    bert = run(BERT, DESK)
    bert_cpu = next(c for c in bert.candidates if c.kind == "cpu")
    assert bert_cpu.fits and "BERT-size training works on a CPU" in bert_cpu.reason
    assert any("decodes at" in note for note in qlora.notes)


def test_nothing_fits_says_so():
    huge = run(job("meta-llama/Llama-3.1-70B-Instruct", method="full", seq_len=8192),
               gpu_types=frozenset({"T4"}))
    assert not any(c.fits for c in huge.candidates) and any("nothing fits" in n for n in huge.notes)
    assert not any(c.tags for c in huge.candidates)


def test_recommend_cli_json_with_declared_hardware(capsys, tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text(
        "electricity: {kwh_usd: 0.25}\nhardware:\n  detect: false\n  include_cpu: false\n"
        "  gpus: [{name: RTX 4090, note: under the desk}]\n  mac: {chip: M3 Ultra, memory_gb: 192}\n")
    monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(config))
    out = cli_json(capsys, "recommend", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--method", "qlora",
                   "--examples", "5000", "--avg-tokens", "600", "--providers", "local,runpod", "--deadline-hours", "4")
    local = [c for c in out["candidates"] if c["provider"] == "local"]
    assert {c["gpu"] for c in local} == {"RTX4090", "Apple M3 Ultra"}
    assert all("$0.25/kWh (settings)" in c["price_source"] for c in local)
    assert {c["provider"] for c in out["candidates"]} == {"local", "runpod"}
    assert out["job"]["deadline_hours"] == 4 and out["job"]["deadline_assumed"] is False


def test_recommend_cli_spec_and_errors(capsys):
    out = cli_json(capsys, "recommend", "--spec", "examples/bert-classify.yaml", "--providers", "modal", "--gpus", "1")
    assert out["job"]["task"] == "classify" and {c["gpus"] for c in out["candidates"]} == {1}
    code, _, err = run_cli(capsys, "recommend", "--model", "gpt2", "--providers", "lamda")
    assert code == 2 and err.startswith("error: unknown provider 'lamda' (did you mean 'lambda'") and err.count("\n") == 1
    code, _, err = run_cli(capsys, "recommend", "--model", "gpt2", "--max-usd", "-1")
    assert code == 2 and "--max-usd must be positive" in err


def test_new_headless_modules_import_nothing_heavy():
    import subprocess
    import sys

    modules = ["planner.recommend", "planner.rent_vs_buy", "planner.catalog.prices", "providers.settings",
               "providers.hardware", "providers.prices_refresh"]
    heavy = {"torch", "transformers", "textual", "rich", "sky", "modal", "runpod", "httpx"}
    code = (f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; "
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_a_configuration_no_stack_can_run_says_why():
    unsloth = run(job("Qwen/Qwen2.5-7B-Instruct", method="qlora", quant="nf4", kernels="unsloth"),
                  providers=frozenset({"runpod"}), gpu_types=frozenset({"A40"}))
    multi = [c for c in unsloth.candidates if c.gpus > 1]
    assert multi and all(not c.fits and "unsloth kernels run on one GPU" in c.reason for c in multi)
    assert any(c.fits for c in unsloth.candidates if c.gpus == 1)


def test_spot_is_never_offered_as_launchable_where_the_launcher_cannot_get_it():
    """Lambda has no spot instances, and SkyPilot's managed spot jobs need a bucket mount RunPod cannot give."""
    from planner.recommend.capabilities import launchable

    assert launchable("skypilot", 1, True, "lambda")[0] is False
    assert "bucket" in launchable("skypilot", 1, True, "runpod")[1]
    assert launchable("skypilot", 1, False, "lambda") == (True, "")
    assert launchable("skypilot", 1, True, "aws") == (True, "")
    assert launchable("runpod", 1, True, "runpod") == (True, "")



def test_several_machines_cost_their_count_and_their_network_and_only_their_launchers_launch_them():
    """Issue 14: a 2-node candidate pays for two machines, and the all-reduce between them (100 Gb/s between
    machines) makes it slower than twice one node; SkyPilot and Modal (whole 8-GPU hosts) launch it, RunPod
    and a Modal cluster of part-hosts say why they cannot."""
    job = Job(resolve_local("meta-llama/Llama-3.1-70B-Instruct"), TrainingSetup(method="lora").validated(),
              DataSize(20000, 1024, 1))
    nodes_any = recommend(job, snapshot(), LocalMachine(), Constraints(gpu_types=frozenset({"H100"}),
                                                                          gpu_counts=frozenset({8})), TODAY,
                          Electricity(Decimal("0.30"), "test", False))
    by = {(c.provider, c.cloud, c.device.split(" nodes × ")[-1], c.nodes): c for c in nodes_any.candidates}
    one = next(c for key, c in by.items() if key[0] == "skypilot" and key[3] == 1)
    two = by[(one.provider, one.cloud, one.device, 2)]
    assert two.cost.usd_per_hour == one.cost.usd_per_hour * 2
    assert two.tokens_per_s < 2 * one.tokens_per_s, "two nodes are never twice as fast for free"
    assert two.launchable and two.sharding in ("ddp", "fsdp")
    pinned = recommend(job, snapshot(), LocalMachine(), Constraints(nodes=frozenset({2}), gpu_counts=frozenset({8})),
                       TODAY, Electricity(Decimal("0.30"), "test", False))
    assert {c.nodes for c in pinned.candidates if c.kind == "gpu" and c.provider != "local"} == {2}
    refused = [c for c in pinned.candidates if c.provider == "runpod"]
    assert refused and all(not c.launchable and "nodes" in c.why for c in refused)
    modal = [c for c in pinned.candidates if c.provider == "modal"]
    assert any(c.launchable and c.gpus == 8 and c.nodes == 2 for c in modal)
    four = recommend(job, snapshot(), LocalMachine(), Constraints(nodes=frozenset({2}), gpu_counts=frozenset({4})),
                     TODAY, Electricity(Decimal("0.30"), "test", False))
    part_hosts = [c for c in four.candidates if c.provider == "modal"]
    assert part_hosts and all(not c.launchable and "all 8 GPUs" in c.why for c in part_hosts if c.fits)


def test_the_best_local_option_is_answered_apart_from_the_ranking():
    """Issue 21: "do I even need a GPU?" — a BERT classifier's local CPU option was ranked 48th and missing
    from the top 5; the answer now stands apart (``local``), with its time and electricity cost."""
    bert = Job(resolve_local("google-bert/bert-base-uncased"),
               TrainingSetup(task="classify", method="full", seq_len=128, micro_batch=8).validated(),
               DataSize(2000, 96, 1))
    result = recommend(bert, snapshot(), DESK, Constraints(), TODAY, Electricity(Decimal("0.30"), "test", False))
    local = result.to_json()["local"]
    assert local["option"]["provider"] == "local" and local["option"]["fits"] and local["why_not"] is None
    assert Decimal(local["option"]["usd"]) >= 0 and local["option"]["hours"] > 0 and local["option"]["kind"] == "gpu"
    huge = Job(resolve_local("meta-llama/Llama-3.1-70B-Instruct"), TrainingSetup(method="lora").validated(),
               DataSize(2000, 512, 1))
    none_here = recommend(huge, snapshot(), DESK, Constraints(), TODAY,
                          Electricity(Decimal("0.30"), "test", False)).to_json()["local"]
    assert none_here["option"] is None and "GiB" in none_here["why_not"]
