"""`prices refresh` through the real HTTP path: a fake RunPod GraphQL server and a fake Modal pricing page
on 127.0.0.1 (good answers, malformed JSON, GraphQL errors, HTTP 500 and 401, an unreachable port), SkyPilot's
real catalog reader over seeded offline catalogs, and the lenient cache laid over the snapshot."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from planner.catalog.prices import snapshot
from providers.prices_refresh import cache_path, current_prices, read_cache, refresh
from providers.settings import Settings
from tests.cli_inprocess import run_cli
from tests.fakes import serve

TODAY = date(2026, 11, 26)
KEY = "rp_test_key_do_not_print"
SEED = Path(__file__).parent / "fixtures" / "skypilot-seed-v8"

GPU_TYPES = {"data": {"gpuTypes": [
    {"id": "NVIDIA H100 80GB HBM3", "displayName": "H100 SXM", "memoryInGb": 80, "maxGpuCount": 8,
     "secureCloud": True, "communityCloud": True, "securePrice": 3.99, "communityPrice": 2.69,
     "secureSpotPrice": 2.39, "communitySpotPrice": 1.65,
     "lowestPrice": {"minimumBidPrice": 1.5, "uninterruptablePrice": 2.69}},
    {"id": "NVIDIA GeForce RTX 4090", "displayName": "RTX 4090", "memoryInGb": 24, "maxGpuCount": 4,
     "secureCloud": True, "communityCloud": True, "securePrice": 0.69, "communityPrice": None,
     "secureSpotPrice": None, "communitySpotPrice": 0.2, "lowestPrice": {"uninterruptablePrice": 0.34}},
    {"id": "NVIDIA GeForce RTX 3060", "displayName": "RTX 3060", "securePrice": 0.1},
]}}

MODAL_PAGE = b"""<html><body><h2>GPU Tasks</h2><div><span>Nvidia H100</span> <span>$0.001097 / sec</span></div>
<div><span>Nvidia A100, 80 GB</span><span>$0.000694 / sec</span></div><div>Nvidia L4</div><div>$0.000222 / sec</div>
<script>var x = "$9 / sec";</script></body></html>"""


def settings(**prices) -> Settings:
    return Settings(prices={"sources": ["runpod"], **prices})


@pytest.fixture
def runpod_env(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)

    def point(url: str) -> None:
        monkeypatch.setenv("RUNPOD_API_BASE_URL", url)
    return point


def graphql(status: int, payload):
    return {"/graphql": lambda body, headers: (status, payload)}


def test_good_answer_is_cached_and_laid_over_the_snapshot(runpod_env):
    with serve(graphql(200, GPU_TYPES)) as (url, log):
        runpod_env(url)
        [result] = refresh(settings(), TODAY)
    assert result.ok and "prices" in result.line and KEY not in result.line
    request = log[0]
    assert request["path"] == "/graphql" and request["headers"]["authorization"] == f"Bearer {KEY}"
    assert "gpuTypes" in json.loads(request["body"])["query"] and "lowestPrice" in request["body"]
    rows = {(r.offering, r.gpu, r.gpus): r for r in read_cache()}
    h100 = rows[("secure-cloud", "H100", 1)]
    assert h100.usd_per_hour == Decimal("3.99") and h100.spot_usd_per_hour == Decimal("2.39") and h100.as_of == TODAY
    assert rows[("secure-cloud", "H100", 8)].usd_per_hour == Decimal("3.99") * 8 and rows[("secure-cloud", "H100", 8)].derived
    assert rows[("community-cloud", "RTX4090", 1)].usd_per_hour == Decimal("0.34")  # from lowestPrice
    assert ("secure-cloud", "RTX4090", 8) not in rows  # maxGpuCount 4
    merged = {r.key: r for r in current_prices()}
    snap = next(r for r in snapshot() if r.cloud == "runpod" and r.offering == "secure-cloud" and r.gpu == "H100" and r.gpus == 1)
    assert merged[snap.key].usd_per_hour == Decimal("3.99") and "RunPod GraphQL" in merged[snap.key].source


@pytest.mark.parametrize("status, payload, message", [
    (200, b"{not json", "the answer is not JSON"),
    (200, {"errors": [{"message": "Something went\nwrong"}]}, "GraphQL error: Something went wrong"),
    (500, {"error": "boom"}, "HTTP 500 from"),
    (401, {"error": "no"}, "the API key was rejected (HTTP 401)"),
    (200, {"data": {"gpuTypes": "nope"}}, "unexpected answer"),
    (200, {"data": {"gpuTypes": [{"id": "NVIDIA GeForce RTX 3060", "securePrice": 0.1}]}}, "none of the 1 GPU types"),
])
def test_bad_answers_fail_in_one_line_and_keep_the_snapshot(runpod_env, status, payload, message):
    with serve(graphql(status, payload)) as (url, _):
        runpod_env(url)
        [result] = refresh(settings(), TODAY)
    assert not result.ok and message in result.line and "\n" not in result.line and KEY not in result.line
    assert not cache_path().exists() and len(current_prices()) == len(snapshot())


def test_unreachable_and_missing_key(runpod_env, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runpod_env(f"http://127.0.0.1:{port}")
    [result] = refresh(settings(refresh_timeout_s=2), TODAY)
    assert "could not reach http://127.0.0.1" in result.line
    monkeypatch.delenv("RUNPOD_API_KEY")
    [result] = refresh(settings(), TODAY)
    assert result.line == "runpod: failed — no API key (set RUNPOD_API_KEY or runpod.api_key in settings)"


def test_key_from_settings_and_old_cache_kept_when_a_source_fails(runpod_env, monkeypatch):
    monkeypatch.delenv("RUNPOD_API_KEY")
    with serve(graphql(200, GPU_TYPES)) as (url, log):
        runpod_env(url)
        refresh(Settings(prices={"sources": ["runpod"]}, runpod={"api_key": "from-settings"}), TODAY)
    assert log[0]["headers"]["authorization"] == "Bearer from-settings"
    before = len(read_cache())
    with serve(graphql(500, {})) as (url, _):
        runpod_env(url)
        refresh(Settings(prices={"sources": ["runpod"]}, runpod={"api_key": "x"}), TODAY)
    assert len(read_cache()) == before > 0


def test_cache_is_read_leniently():
    cache_path().write_text("{broken")
    assert read_cache() == [] and len(current_prices()) == len(snapshot())
    good = {"cloud": "lambda", "offering": "on-demand", "gpu": "H100", "gpus": 1, "usd_per_hour": "2.49",
            "source": "test", "as_of": "2026-11-20", "instance_type": "gpu_1x_h100_sxm5"}
    cache_path().write_text(json.dumps({"version": 99, "rows": [good, {"cloud": "x"}, 5]}))
    rows = {r.key: r for r in current_prices()}
    assert rows[("lambda", "on-demand", "H100", 1, "gpu_1x_h100_sxm5")].usd_per_hour == Decimal("2.49")


def test_modal_pricing_page():
    with serve({"/pricing": lambda body, headers: (200, MODAL_PAGE)}) as (url, _):
        [result] = refresh(settings(sources=["modal"], modal_pricing_url=f"{url}/pricing"), TODAY)
    assert result.ok
    one = {r.gpu: r for r in result.rows if r.gpus == 1}
    assert one["H100"].usd_per_hour == Decimal("3.9492") and one["A100-80GB"].usd_per_hour == Decimal("2.4984")
    assert one["L4"].usd_per_hour == Decimal("0.7992") and one["H100"].gpu_only
    with serve({"/pricing": lambda body, headers: (200, b"<html>redesigned</html>")}) as (url, _):
        [result] = refresh(settings(sources=["modal"], modal_pricing_url=f"{url}/pricing"), TODAY)
    assert "no GPU prices found" in result.line


def test_refresh_cli_lines(runpod_env, capsys, tmp_path, monkeypatch):
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "settings.yaml").write_text("prices: {sources: [runpod, modal]}\n")
    monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(config))
    with serve({**graphql(200, GPU_TYPES), "/pricing": lambda b, h: (503, {})}) as (url, _):
        runpod_env(url)
        monkeypatch.setenv("TUNEPLAN_PRICES__MODAL_PRICING_URL", f"{url}/pricing")
        code, out, _ = run_cli(capsys, "prices", "refresh")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("runpod: ok") and lines[1].startswith("modal: failed — HTTP 503")
    assert lines[2].startswith("cache: ") and KEY not in out


def test_skypilot_catalogs_offline(tmp_path):
    """SkyPilot's own reader over seeded catalogs (a subprocess: ``sky`` fixes its paths at import)."""
    pytest.importorskip("sky")
    runtime = tmp_path / "sky"
    for part in ("common", "aws", "lambda"):
        shutil.copytree(SEED / part, runtime / ".sky" / "catalogs" / "v8" / part)
    env = {**os.environ, "HOME": str(tmp_path), "SKY_RUNTIME_DIR": str(runtime), "TUNEPLAN_CACHE_DIR": str(tmp_path / "c"),
           "TUNEPLAN_CONFIG_DIR": str(tmp_path / "cfg"), "TUNEPLAN_PRICES__SOURCES": '["skypilot"]',
           "TUNEPLAN_PRICES__SKYPILOT_CLOUDS": '["aws", "lambda"]', "SKYPILOT_DISABLE_USAGE_COLLECTION": "1"}
    done = subprocess.run([sys.executable, "-m", "tuneplan.cli.app", "prices", "refresh"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "skypilot/aws: ok" in done.stdout and "skypilot/lambda: ok" in done.stdout
    cached = json.loads((tmp_path / "c" / "prices.json").read_text())["rows"]
    g6e = next(r for r in cached if r["instance_type"] == "g6e.xlarge")
    assert (g6e["gpu"], g6e["usd_per_hour"], g6e["spot_usd_per_hour"]) == ("L40S", "1.861", "0.5261")
    assert any(r["gpu"] == "H100-PCIe" and r["cloud"] == "lambda" for r in cached)  # gpu_1x_h100_pcie
