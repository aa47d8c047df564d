"""Settings: one pydantic-settings model from settings.yaml (TUNEPLAN_CONFIG_DIR) and TUNEPLAN_* variables,
documented fields, secrets kept secret, and one clear line (exit 2) for any mistake."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from planner.errors import BadInput
from providers.settings import Settings, load_settings, settings_path
from tests.cli_inprocess import run_cli


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cfg"
    folder.mkdir()
    monkeypatch.setenv("TUNEPLAN_CONFIG_DIR", str(folder))
    return folder / "settings.yaml"


def test_defaults_without_a_file(config):
    settings = load_settings()
    assert settings_path() == config
    assert settings.electricity.kwh_usd == Decimal("0.30") and settings.hardware.detect is True
    assert settings.prices.stale_after_days == 30 and settings.runpod.api_key is None


def test_file_with_declared_hardware(config):
    config.write_text("electricity: {kwh_usd: 0.32}\nhardware:\n  gpus: [{name: RTX 4090, note: under the desk}]\n"
                      "  mac: {chip: m3 ultra, memory_gb: 192, note: Mac Studio}\n")
    settings = load_settings()
    assert settings.electricity.kwh_usd == Decimal("0.32")
    assert settings.hardware.gpus[0].name == "RTX4090" and settings.hardware.gpus[0].note == "under the desk"
    assert settings.hardware.mac.chip == "M3 Ultra" and settings.hardware.mac.memory_gb == 192


def test_environment_beats_the_file(config, monkeypatch):
    config.write_text("electricity: {kwh_usd: 0.32}\n")
    monkeypatch.setenv("TUNEPLAN_ELECTRICITY__KWH_USD", "0.21")
    assert load_settings().electricity.kwh_usd == Decimal("0.21")


def test_keys_are_secret(config):
    config.write_text("runpod: {api_key: rp_very_secret}\n")
    settings = load_settings()
    assert settings.runpod.api_key.get_secret_value() == "rp_very_secret"
    assert "rp_very_secret" not in repr(settings) and "rp_very_secret" not in str(settings.model_dump())


@pytest.mark.parametrize("text, message", [
    ("hardware:\n  gpu: [{name: RTX 4090}]\n", "unknown key 'hardware.gpu' (did you mean 'gpus'?)"),
    ("electricty: {kwh_usd: 0.3}\n", "unknown key 'electricty' (did you mean 'electricity'?)"),
    ("hardware:\n  gpus: [{name: RTX 4090, cuont: 2}]\n", "unknown key 'hardware.gpus.0.cuont' (did you mean 'count'?)"),
    ("hardware:\n  gpus: [{name: RTX 4909}]\n", "unknown GPU 'RTX 4909' (did you mean 'RTX4090'"),
    ("hardware:\n  mac: {chip: M9 Ultra, memory_gb: 64}\n", "unknown Apple chip 'M9 Ultra'"),
    ("electricity: {kwh_usd: -1}\n", "'electricity.kwh_usd'"),
    ("prices: {sources: [runpod, aws]}\n", "'prices.sources.1'"),
    ("electricity: [1, 2\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_mistakes_are_one_clear_line(config, text, message):
    config.write_text(text)
    with pytest.raises(BadInput) as info:
        load_settings()
    assert message in str(info.value) and "\n" not in str(info.value) and str(config) in str(info.value)


def test_a_mistake_reaches_the_cli_as_exit_2(config, capsys):
    config.write_text("hardware: {detcet: false}\n")
    code, _, err = run_cli(capsys, "recommend", "--model", "gpt2")
    assert code == 2 and err.count("\n") == 1 and "did you mean 'detect'" in err


def _sections(model: type[BaseModel]):
    yield model
    for field in model.model_fields.values():
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            for inner in (arg, *getattr(arg, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _sections(inner)


def test_every_field_is_documented():
    for section in _sections(Settings):
        for name, field in section.model_fields.items():
            assert field.description, f"{section.__name__}.{name} has no docstring"
