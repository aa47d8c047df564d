"""Bundles: the template, job.json with bundle-relative paths, requirements, data, a sha256 manifest and a
tarball; never a secret."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from importlib import resources
from pathlib import Path

import pytest

from planner.errors import BadInput
from planner.spec import load_spec, spec_from_dict
from remote_jobs.bundle import build_bundle, sha256_file, verify_bundle
from remote_jobs.resolve import resolve_job

ROOT = Path(__file__).resolve().parents[1]


def smoke_bundle(tmp_path, **extra):
    spec_path = tmp_path / "spec" / "job.yaml"
    (spec_path.parent / "data").mkdir(parents=True)
    (spec_path.parent / "data" / "train.jsonl").write_text('{"text": "a"}\n')
    (spec_path.parent / "eval.jsonl").write_text('{"text": "b"}\n')
    raw = {"name": "b", "task": "smoke", "model": "none", "secrets": ["HF_TOKEN"],
           "data": {"train": "data/train.jsonl", "eval": "eval.jsonl"}, "training": {"max_steps": 2},
           "smoke": {"step_seconds": 0.0, "fail_at": 2}, **extra}
    job = resolve_job(spec_from_dict(raw), spec_path)
    return job, build_bundle(job, "b-20261115-120000-abcd", tmp_path / "run" / "bundle")


def test_layout_and_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_canary_value")
    job, bundle = smoke_bundle(tmp_path)
    names = {f.path for f in bundle.files}
    assert names == {"smoke.py", "job.json", "requirements.txt", "data/train.jsonl", "data/eval.jsonl"}
    assert (bundle.root / "smoke.py").read_bytes() == (resources.files("remote_jobs.templates") / "smoke.py").read_bytes()
    manifest = json.loads((bundle.root / "bundle.json").read_text())
    assert manifest["secrets"] == ["HF_TOKEN"] and manifest["entrypoint"] == "smoke.py"
    assert manifest["args"] == ["--config", "job.json", "--step-seconds", "0.0", "--fail-at", "2"]
    for entry in manifest["files"]:
        assert hashlib.sha256((bundle.root / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert verify_bundle(bundle) == [] and sha256_file(bundle.tarball) == bundle.sha256
    with tarfile.open(bundle.tarball) as tar:
        assert set(tar.getnames()) == names | {"bundle.json"}
        for member in tar.getmembers():
            assert b"hf_canary_value" not in tar.extractfile(member).read()


def test_job_json_is_the_resolved_spec_with_paths_inside_the_bundle(tmp_path):
    _, bundle = smoke_bundle(tmp_path)
    job = json.loads((bundle.root / "job.json").read_text())
    assert job["data"] == {"train": "data/train.jsonl", "eval": "data/eval.jsonl"}
    assert job["output_dir"] == "out" and "smoke" not in job and job["secrets"] == ["HF_TOKEN"]
    assert not any(str(tmp_path) in json.dumps(value) for value in job.values())
    assert "logging_steps" not in job["training"], "unset keys are left to the template's defaults"


def test_the_template_accepts_the_bundle(tmp_path):
    _, bundle = smoke_bundle(tmp_path)
    done = subprocess.run([sys.executable, bundle.entrypoint, *bundle.args, "--validate-only"], cwd=bundle.root,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_changed_file_is_caught(tmp_path):
    _, bundle = smoke_bundle(tmp_path)
    (bundle.root / "job.json").write_text("{}")
    assert verify_bundle(bundle) == ["job.json: sha256 differs from the manifest"]


def test_a_local_model_directory_travels_as_model(tmp_path):
    model = tmp_path / "spec" / "my-model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "weights.bin").write_bytes(b"\0" * 10)
    (tmp_path / "spec" / "train.jsonl").write_text('{"messages": []}\n')
    spec = spec_from_dict({"name": "m", "task": "sft", "model": "my-model", "data": {"train": "train.jsonl"}})
    job = resolve_job(spec, tmp_path / "spec" / "job.yaml")
    bundle = build_bundle(job, "m-20261115-120000-abcd", tmp_path / "bundle")
    assert {"model/config.json", "model/weights.bin", "sft.py", "requirements.txt"} <= {f.path for f in bundle.files}
    assert json.loads((bundle.root / "job.json").read_text())["model"] == "model"
    assert (bundle.root / "requirements.txt").read_text() == (ROOT / "templates" / "requirements-sft.txt").read_text()


def test_hub_names_stay_names(tmp_path):
    spec = spec_from_dict({"name": "h", "task": "sft", "model": "Qwen/Qwen2.5-0.5B-Instruct",
                           "data": {"train": "hub:org/data:train"}})
    job = resolve_job(spec, tmp_path / "job.yaml")
    assert job.inputs == () and not job.local_data
    assert job.job_json()["model"] == "Qwen/Qwen2.5-0.5B-Instruct" and job.job_json()["data"]["train"] == "hub:org/data:train"


def test_a_missing_data_file_names_the_spec_and_the_key(tmp_path):
    spec_path = tmp_path / "job.yaml"
    spec_path.write_text("name: x\ntask: sft\nmodel: Qwen/Qwen2.5-0.5B-Instruct\ndata: {train: nope.jsonl}\n")
    with pytest.raises(BadInput, match=r"job\.yaml: data\.train: no such file .*nope\.jsonl"):
        resolve_job(load_spec(spec_path), spec_path)


def test_spec_typos_are_caught_with_a_suggestion(tmp_path):
    spec_path = tmp_path / "job.yaml"
    spec_path.write_text("name: x\nmodel: m\nsmoke: {step_secnds: 1}\n")
    with pytest.raises(BadInput, match=r"job\.yaml: unknown key 'smoke\.step_secnds' \(did you mean 'step_seconds'\?\)"):
        load_spec(spec_path)
