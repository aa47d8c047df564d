"""Issue 26, item 8: every launcher's ``--dry-run`` shows what it would create (SkyPilot's task YAML, Modal's App,
RunPod's pod request) with nothing started, recorded, sent or made; ``resources.image`` puts a team's prebuilt
image on every launcher and the bundle then asks to install nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from planner.errors import BadInput
from planner.spec import spec_from_dict
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "ghcr.io/acme/train:2026-11"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEPLAN_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("TUNEPLAN_DATA_DIR", str(tmp_path / "data"))
    for name in ("RUNPOD_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _dry_run(capsys, home, provider: str, *sets: str) -> tuple[str, Path]:
    out_file = home / f"{provider}.task"
    code, out, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-sft.yaml"), "--provider", provider,
                             "--set", "resources.gpu=L4", *(x for s in sets for x in ("--set", s)), "--dry-run",
                             "--no-validate", "-o", str(out_file))
    assert code == 0, err
    assert json.loads(run_cli(capsys, "jobs", "--json")[1]) == [], "a dry run records nothing"
    bundle = next((home / "data" / "runs").glob("*/bundle"))
    return out_file.read_text(), bundle


def test_runpod_shows_the_pod_it_would_ask_for_and_sends_nothing(capsys, home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecretvalue")
    text, _ = _dry_run(capsys, home, "runpod", 'secrets=["HF_TOKEN"]')
    request = json.loads(text)["runpod"]
    pod = request["input"]
    assert request["mutation"] == "podFindAndDeployOnDemand" and pod["gpuTypeId"] == "NVIDIA L4"
    assert pod["name"].startswith("tp-tiny-sft-") and pod["imageName"].startswith("runpod/pytorch:")
    env = {item["key"]: item["value"] for item in pod["env"]}
    assert env["TUNEPLAN_POD_HOST_KEY"] == env["PUBLIC_KEY"] == "<made at launch>"
    assert "HF_TOKEN" in env and "hf_supersecretvalue" not in text, "a secret by name only"
    assert not (home / "data" / "runpod").exists(), "no SSH key was made for a run that does not exist"


def test_modal_shows_the_app_the_sdk_built_offline(capsys, home):
    text, bundle = _dry_run(capsys, home, "modal")
    app = yaml.safe_load(text)["modal"]
    assert app["app"]["name"].startswith("tp-tiny-sft-") and app["function"]["gpu"] == "L4"
    assert app["image"]["base"].startswith("debian_slim") and any(p.startswith("transformers==")
                                                                  for p in app["image"]["pip_install"])
    assert app["volume"]["folder"] == app["app"]["name"] and app["spawn"]["bundle_sha256"] in text
    assert "transformers==" in (bundle / "requirements.txt").read_text(), "the default stays: pinned and installed"


@pytest.mark.parametrize("provider", ["modal", "runpod", "skypilot"])
def test_a_prebuilt_image_is_used_by_every_launcher_and_nothing_is_installed(capsys, home, provider):
    text, bundle = _dry_run(capsys, home, provider, f"resources.image={IMAGE}")
    if provider == "modal":
        app = yaml.safe_load(text)["modal"]
        assert app["image"] == {**app["image"], "base": f"from_registry({IMAGE})", "pip_install": "nothing"}
    elif provider == "runpod":
        assert json.loads(text)["runpod"]["input"]["imageName"] == IMAGE
    else:
        assert yaml.safe_load(text)["resources"]["image_id"] == f"docker:{IMAGE}", "SkyPilot's docker: image id"
    lines = (bundle / "requirements.txt").read_text().splitlines()
    assert lines and all(line.startswith("#") for line in lines), "an empty list: every launcher installs nothing"


def test_the_local_launcher_has_nothing_to_create_and_says_which_do(capsys, home):
    code, _, err = run_cli(capsys, "launch", str(ROOT / "examples" / "tiny-smoke.yaml"), "--dry-run")
    assert code == 2 and "skypilot, modal or runpod" in err


@pytest.mark.parametrize("image", ["ubuntu:22.04", "docker:ghcr.io/acme/train@sha256:" + "a" * 64, IMAGE])
def test_image_references_are_checked_in_the_spec(image):
    assert spec_from_dict({"model": "m", "resources": {"image": image}}).resources.image == image
    with pytest.raises(BadInput, match="not a container image reference"):
        spec_from_dict({"model": "m", "resources": {"image": "my image; rm -rf /"}})
