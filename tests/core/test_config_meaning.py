"""Configs are checked for meaning before anything loads (#19): a single value for a list is a one-item list,
numbers out of range and non-finite numbers are errors naming where they came from, YAML keys given twice and
aliases that contain themselves are errors, and TOML / JSON problems carry their line."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolset.config import RunConfig, load_config
from toolset.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("dataset.sft=data.jsonl", lambda c: c.dataset.sft == ["data.jsonl"]),
        ("lora.target_modules=q_proj", lambda c: c.lora.target_modules == ["q_proj"]),
        ("train.stages=sft", lambda c: c.train.stages == ["sft"]),
        ("export.formats=gguf", lambda c: c.export.formats == ["gguf"]),
    ],
)
def test_a_single_value_for_a_list_is_a_one_item_list(override, check):
    assert check(load_config(overrides=[override]))


def test_a_single_value_in_a_file_is_a_one_item_list(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("dataset:\n  sft: data.jsonl\n")
    assert load_config(path).dataset.sft == ["data.jsonl"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.sft={a: 1}", "dataset.sft = {'a': 1}: expected list (not a list"),
        ("train.sft.max_steps=-5", "train.sft.max_steps = -5: must be at least 1"),
        ("lora.r=0", "lora.r = 0: must be at least 1"),
        ("train.sft.per_device_batch_size=0", "train.sft.per_device_batch_size = 0: must be at least 1"),
        ("train.sft.learning_rate=.nan", "train.sft.learning_rate = nan: expected float (not a finite number)"),
        ("train.kto.epochs=inf", "train.kto.epochs = 'inf': expected float (not a finite number)"),
        ("lora.dropout=2", "lora.dropout = 2: must be in [0, 1)"),
        ("dataset.eval_fraction=1.5", "dataset.eval_fraction = 1.5: must be in [0, 1)"),
        ("dataset.max_length=0", "dataset.max_length = 0: must be at least 1"),
        ("eval.top_p=0", "eval.top_p = 0: must be in (0, 1]"),
        ("train.mlx.stages=[{name: a, iterations: 0}]", "train.mlx.stages[0].iterations = 0: must be at least 1"),
        ("export.formats=bogus", "export.formats[0] = 'bogus': expected one of 'adapter', 'merged', 'gguf'"),
        ("preset=3b", "a preset is chosen with --preset 3b"),
        ("dataset.sft=[unclosed", "the value is not a valid YAML list or mapping"),
    ],
)
def test_values_without_meaning_are_errors_before_anything_loads(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(overrides=[override])
    assert message in str(error.value)
    if not override.startswith(("preset=", "dataset.sft=[")):
        assert f"--set {override}: " in str(error.value)  # where it came from


def test_yaml_keys_given_twice_and_self_containing_aliases(tmp_path):
    twice = tmp_path / "twice.yaml"
    twice.write_text("lora:\n  r: 8\n  alpha: 16\n  r: 32\n")
    with pytest.raises(ConfigError, match=r"twice.yaml: line 4: lora.r is given twice \(first at line 2\)"):
        load_config(twice)
    looped = tmp_path / "looped.yaml"
    looped.write_text("lora:\n  target_modules: &m [q_proj, *m]\n")
    with pytest.raises(ConfigError, match=r"lora.target_modules\[1\] contains itself"):
        load_config(looped)


def test_toml_and_json_errors_name_the_line(tmp_path):
    toml = tmp_path / "config.toml"
    toml.write_text('output_dir = "runs"\n\n[lora]\nalpha = 16\nr = "abc"\n')
    with pytest.raises(ConfigError, match=r"config.toml:5: lora.r = 'abc': expected int"):
        load_config(toml)
    as_json = tmp_path / "config.json"
    as_json.write_text('{\n  "lora": {\n    "r": 0\n  }\n}\n')
    with pytest.raises(ConfigError, match=r"config.json:3: lora.r = 0: must be at least 1"):
        load_config(as_json)
    twice = tmp_path / "twice.json"
    twice.write_text('{"lora": {"r": 8, "r": 0}}')
    with pytest.raises(ConfigError, match="lora.r is given twice"):
        load_config(twice)


def _sections():
    """(section, field) of every setting of the run config's sections."""
    import typing

    import attrs

    for name, hint in typing.get_type_hints(RunConfig).items():
        if isinstance(hint, type) and attrs.has(hint):
            for field in attrs.fields(hint):
                yield name, field.name


YAML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(sorted(_sections())), value=YAML_VALUES)
def test_any_value_for_any_setting_is_a_config_or_a_config_error(tmp_path_factory, field, value):
    import yaml

    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text(yaml.safe_dump({field[0]: {field[1]: value}}))
    try:
        load_config(path)
    except ConfigError as error:
        assert str(error)
