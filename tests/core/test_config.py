"""Run configuration: files in three formats, presets, --set overrides and precise error messages."""

from __future__ import annotations

import json

import pytest

from toolset.config import RunConfig, dump_config, load_config, preset_data, preset_names
from toolset.errors import ConfigError


def test_defaults_follow_the_method_recipes():
    config = load_config()
    assert isinstance(config, RunConfig)
    assert (config.train.sft.learning_rate, config.train.sft.epochs, config.train.sft.max_grad_norm) == (2e-4, 3, 1.0)
    kto = config.train.kto
    assert (kto.learning_rate, kto.epochs, kto.beta, kto.max_grad_norm) == (1e-6, 1, 0.1, 0.5)
    assert config.train.stages == ["sft", "kto"]


def test_presets_are_data_and_all_load():
    assert set(preset_names()) >= {"tiny", "tiny-gemma", "3b", "7b", "13b", "20b"}
    expected = {
        "tiny": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "3b": "Qwen/Qwen2.5-3B-Instruct",
        "7b": "mistralai/Mistral-7B-Instruct-v0.3",
        "20b": "openai/gpt-oss-20b",
        "tiny-gemma": "google/gemma-3-270m",
    }
    for name, model in expected.items():
        assert preset_data(name)["model"]["name"] == model
        assert load_config(preset=name).model.name == model
    assert load_config(preset="tiny").model.source == "embedded"
    assert load_config(preset="tiny-gemma").model.source == "embedded"


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
def test_yaml_json_and_toml_give_the_same_config(tmp_path, suffix):
    data = {"preset": "tiny", "lora": {"r": 4}, "train": {"kto": {"beta": 0.2}}, "dataset": {"sft": ["a.jsonl"]}}
    path = tmp_path / f"run{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    elif suffix == ".toml":
        path.write_text('preset = "tiny"\n[lora]\nr = 4\n[train.kto]\nbeta = 0.2\n[dataset]\nsft = ["a.jsonl"]\n')
    else:
        path.write_text("preset: tiny\nlora:\n  r: 4\ntrain:\n  kto:\n    beta: 0.2\ndataset:\n  sft: [a.jsonl]\n")
    config = load_config(path)
    assert config.preset == "tiny"
    assert config.lora.r == 4 and config.lora.alpha == 16  # file over preset over defaults
    assert config.train.kto.beta == 0.2 and config.train.kto.learning_rate == 1e-6
    assert config.dataset.sft == ["a.jsonl"]


def test_set_overrides_convert_types():
    config = load_config(
        preset="tiny",
        overrides=[
            "lora.r=32",
            "train.sft.learning_rate=5e-5",
            "export.verify=false",
            "train.stages=[sft]",
            "eval.model=",
        ],
    )
    assert config.lora.r == 32
    assert config.train.sft.learning_rate == 5e-5
    assert config.export.verify is False
    assert config.train.stages == ["sft"]
    assert config.eval.model is None


def test_type_error_names_file_line_path_value_and_type(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  name: x\nlora:\n  r: sixteen\n  dropout: 0.1\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert f"{path}:4: lora.r = 'sixteen': expected int" in message


def test_no_silent_coercion():
    with pytest.raises(ConfigError, match=r"lora.r = 3.7: expected int"):
        load_config(overrides=["lora.r=3.7"])
    with pytest.raises(ConfigError, match=r"export.verify = 'maybe': expected bool"):
        load_config(overrides=["export.verify=maybe"])
    with pytest.raises(ConfigError, match=r"model.name = 7: expected str"):
        load_config(overrides=["model.name=7"])
    with pytest.raises(ConfigError, match=r"model.dtype = 'fp8': expected one of 'auto'"):
        load_config(overrides=["model.dtype=fp8"])


def test_unknown_keys_get_did_you_mean(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("train:\n  sft:\n    learning_rte: 0.001\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert f"{path}:3: train.sft.learning_rte: unknown key; did you mean 'train.sft.learning_rate'?" in message
    with pytest.raises(ConfigError, match=r"--set lorra.r=2: lorra: unknown key; did you mean 'lora'\?"):
        load_config(overrides=["lorra.r=2"])


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as excinfo:
        load_config(overrides=["lora.r=x", "lora.alpha=y"])
    assert "lora.r" in str(excinfo.value) and "lora.alpha" in str(excinfo.value)


def test_bad_files_are_clear_errors(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("lora:\n  r: [1,\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+:\d+: invalid YAML"):
        load_config(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listed)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"unknown preset '7B'\. Did you mean '7b'\?"):
        load_config(preset="7B")
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        load_config(overrides=["lora.r"])
    section = tmp_path / "section.yaml"
    section.write_text("lora: 8\n")
    with pytest.raises(ConfigError, match="lora = 8: 8 is not a mapping"):
        load_config(section)


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_dump_round_trips(tmp_path, fmt):
    config = load_config(preset="7b", overrides=["lora.r=8"])
    path = tmp_path / f"resolved.{fmt}"
    path.write_text(dump_config(config, fmt))
    assert load_config(path) == config
