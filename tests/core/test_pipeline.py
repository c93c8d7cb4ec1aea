"""``toolset pipeline`` runs whatever trainers ``train.stages`` names, through the registry: third-party trainers
from a plugin object (one with the three-argument factory only, one taking the pipeline's keyword options),
and a clear message for an unknown stage, a trainer that cannot run here, or an export it cannot give."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
import yaml
from click.testing import CliRunner

from toolset import Trainer, hookimpl
from toolset.components import unusable

CALLS: list[str] = []


@attrs.define
class CountConfig:
    steps: int = 5


def _write_model(run_dir: Path, steps: int, **extra: str) -> Path:
    final = Path(run_dir) / "final_model"
    final.mkdir(parents=True)
    (final / "adapter_config.json").write_text("{}")
    (final / "adapters.safetensors").write_bytes(b"not really weights")
    (final / "toolset.json").write_text(json.dumps({"steps": steps}))
    for name, text in extra.items():
        (final / f"{name}.txt").write_text(text)
    return final


def plain_train(run_config, run_dir, config):
    """A trainer written before the pipeline passed keyword options."""
    CALLS.append("plain")
    return _write_model(run_dir, 3)


def counted_train(run_config, run_dir, config, *, parent=None, echo=print):
    CALLS.append("counted")
    echo(f"counted: {config.steps} steps from {parent}")
    return _write_model(run_dir, config.steps, parent=str(parent))


def describe_counted(run_config, config):
    return [f"would count {config.steps} steps"]


class StagePlugin:
    @hookimpl
    def register_trainers(self, register):
        register(Trainer("plain", "Three positional arguments only", None, plain_train))
        register(
            Trainer(
                "counted",
                "Continues its parent, says so",
                CountConfig,
                counted_train,
                describe=describe_counted,
                merge_exporter="no-such-merger",
                section="counted",
            )
        )
        register(Trainer("misplaced", "Claims the sft section", CountConfig, counted_train, section="sft"))
        register(Trainer("seeded", "Claims a setting as its section", CountConfig, counted_train, section="seed"))
        register(
            Trainer(
                "broken", "Needs hardware we lack", None, plain_train, check=lambda: unusable("needs a frobnicator")
            )
        )


@pytest.fixture
def pipeline(fresh_plugins):
    """Invoke ``toolset pipeline`` with the stage plugin registered; returns (exit code, output)."""
    from toolset.cli import ToolsetGroup

    CALLS.clear()
    fresh_plugins.register_plugin(StagePlugin(), "stage-plugin")
    group = ToolsetGroup()
    fresh_plugins.add_commands(group)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(group, ["pipeline", *args], catch_exceptions=False)
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    return invoke


def write_config(folder: Path, stages: list[str], formats: list[str] = ("adapter",), **sections) -> Path:
    data = {
        "output_dir": str(folder / "runs"),
        "train": {"stages": list(stages)},
        "export": {"formats": list(formats), "verify": False},
        **sections,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_plugins_trainers_run_as_pipeline_stages(pipeline, tmp_path):
    config = write_config(tmp_path, ["plain", "counted"])
    root = tmp_path / "pipe"
    code, output = pipeline(str(config), "--run-dir", str(root))
    assert code == 0, output
    assert CALLS == ["plain", "counted"]
    state = json.loads((root / "pipeline.json").read_text())["stages"]
    assert list(state) == ["plain", "counted", "export-adapter"]
    assert (state["plain"]["steps"], state["counted"]["steps"]) == (3, 5)
    assert f"counted: 5 steps from {root / 'plain'}" in output  # parent and echo reached the factory
    assert (root / "counted" / "final_model" / "parent.txt").read_text() == str(root / "plain")
    assert (root / "export" / "adapter" / "adapters.safetensors").is_file()  # the core adapter exporter

    code, output = pipeline(str(config), "--run-dir", str(root), "--resume")
    assert code == 0 and CALLS == ["plain", "counted"], output  # nothing trained again
    assert output.count("done earlier") == 3
    code, output = pipeline(str(config), "--run-dir", str(root))
    assert code == 1 and "already holds a pipeline: add --resume" in output


def test_settings_from_train_section_and_a_factory_without_options(pipeline, tmp_path):
    config = write_config(tmp_path, ["counted", "plain"])
    root = tmp_path / "pipe"
    code, output = pipeline(str(config), "--run-dir", str(root))
    assert code == 0, output
    assert "counted: 5 steps from None" in output  # CountConfig's defaults: no train.counted section
    assert f"[plain] this trainer takes no parent: it starts from the base model, not from {root / 'counted'}" in output
    assert CALLS == ["counted", "plain"]


def test_dry_run_prints_each_trainers_plan_and_writes_nothing(pipeline, tmp_path):
    config = write_config(tmp_path, ["plain", "counted"])
    code, output = pipeline(str(config), "--run-dir", str(tmp_path / "pipe"), "--dry-run")
    assert code == 0, output
    assert "== plain ==\n(trainer 'plain' gives no dry-run description)\n== counted ==\nwould count 5 steps" in output
    assert "then export: adapter; eval: False" in output
    assert CALLS == [] and not (tmp_path / "pipe").exists()
    full = write_config(
        tmp_path, ["plain"], dataset={"validate": True}, eval={"after_training": True, "baseline": True}
    )
    code, output = pipeline(str(full), "--run-dir", str(tmp_path / "pipe"), "--dry-run")
    assert code == 0 and output.startswith("first validate (claudesidian): "), output
    assert "and the untrained model, exported and evaluated the same way (eval.baseline)" in output
    assert CALLS == [] and not (tmp_path / "pipe").exists()


@pytest.mark.parametrize(
    ("stages", "formats", "message"),
    [
        (["plain", "nope"], ["adapter"], "train.stages: unknown trainer 'nope'."),
        (["plain", "plian"], ["adapter"], "Did you mean 'plain'?"),
        (["broken"], ["adapter"], "train.stages: trainer 'broken' cannot run here: needs a frobnicator"),
        (["plain", "plain"], ["adapter"], "train.stages names plain twice"),
        ([], ["adapter"], "train.stages is empty"),
        (["plain"], ["gguf"], "trainer 'plain' names no merge exporter, so its model cannot be exported as merged"),
        (["counted"], ["merged"], "merge exporter of trainer 'counted': unknown exporter 'no-such-merger'"),
    ],
)
def test_bad_stages_are_one_clear_message_before_anything_runs(pipeline, tmp_path, stages, formats, message):
    config = write_config(tmp_path, stages, formats)
    code, output = pipeline(str(config), "--run-dir", str(tmp_path / "pipe"))
    assert code == 1 and message in output, output
    assert CALLS == [] and not (tmp_path / "pipe").exists()


def test_a_trainer_of_a_missing_distribution_names_the_install_command(pipeline, tmp_path, monkeypatch):
    from toolset import plugins
    from toolset.plugins import registry

    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda d: None if d == "toolset-mlx" else real(d))
    monkeypatch.setenv("TOOLSET_DISABLE_PLUGINS", "toolset-mlx")  # as if toolset-mlx were absent
    plugins.reset()
    plugins.register_plugin(StagePlugin(), "stage-plugin")
    code, output = pipeline(str(write_config(tmp_path, ["mlx-lora"])), "--run-dir", str(tmp_path / "pipe"))
    assert code == 1, output
    assert "unknown trainer 'mlx-lora'" in output
    assert 'provided by toolset-mlx, which is not installed. Install it with: pip install "toolset-core[mlx]"' in output


def test_a_trainer_gets_its_own_section_of_the_run_config(pipeline, tmp_path):
    config = write_config(tmp_path, ["counted"], train={"stages": ["counted"], "plugins": {"counted": {"steps": 7}}})
    code, output = pipeline(str(config), "--run-dir", str(tmp_path / "pipe"))
    assert code == 0 and "counted: 7 steps from None" in output, output
    bad = write_config(tmp_path, ["counted"], train={"stages": ["counted"], "plugins": {"counted": {"stpes": 7}}})
    code, output = pipeline(str(bad), "--run-dir", str(tmp_path / "bad"))
    assert code == 1 and "train.plugins.counted" in output and "stpes" in output and "steps" in output, output
    wrong = write_config(tmp_path, ["misplaced"])
    code, output = pipeline(str(wrong), "--run-dir", str(tmp_path / "wrong"))
    assert code == 1 and "names train.sft, which holds SftConfig settings, not its own CountConfig" in output
    seeded = write_config(tmp_path, ["seeded"])
    code, output = pipeline(str(seeded), "--run-dir", str(tmp_path / "seeded"))
    assert code == 1 and "names train.seed as its section, but that is a setting of train" in output, output


def test_toolset_train_runs_any_registered_trainer(fresh_plugins, tmp_path):
    from toolset.cli import ToolsetGroup

    CALLS.clear()
    fresh_plugins.register_plugin(StagePlugin(), "stage-plugin")
    group = ToolsetGroup()
    fresh_plugins.add_commands(group)
    config = write_config(tmp_path, ["counted"], train={"plugins": {"counted": {"steps": 4}}})
    run = tmp_path / "run"
    result = CliRunner().invoke(group, ["train", "counted", str(config), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    assert "counted: 4 steps from None" in result.output and f"final model: {run / 'final_model'}" in result.output
    result = CliRunner().invoke(group, ["train", "counted", str(config), "--dry-run"])
    assert result.exit_code == 0 and "would count 4 steps" in result.output, result.output
    result = CliRunner().invoke(group, ["train", "cuonted", str(config)])
    assert result.exit_code == 1 and "unknown trainer 'cuonted'" in result.output and "'counted'" in result.output
    assert CALLS == ["counted"]


def _fake_file(source, destination, config):
    Path(destination).mkdir(parents=True, exist_ok=True)
    out = Path(destination) / (f"{config.name}-{config.out_type}.gguf" if config else "model.bin")
    out.write_text(f"made from {source}")
    return out


def _fake_evaluate(model, prompt_set, config, *, output, tools_trained=None):
    Path(output).mkdir(parents=True, exist_ok=True)
    CALLS.append(f"evaluate {Path(model).name} on {prompt_set}, offered {config.tools}, trained {tools_trained}")
    return {"cases": 2, "passed": 1, "accuracy": 0.5}


@attrs.define
class FakeGGUFConfig:
    out_type: str = "f16"
    name: str = "model"
    overwrite: bool = False
    verify: bool = True


class ObjectsPlugin:
    """A merge exporter, GGUF and Modelfile exporters and an evaluator, so the whole pipeline runs here."""

    @hookimpl
    def register_exporters(self, register):
        from toolset import Exporter

        for name in ("fake-merge", "ollama"):
            register(Exporter(name, f"Fake {name}", None, _fake_file))
        register(Exporter("gguf", "Fake gguf", FakeGGUFConfig, _fake_file))

    @hookimpl
    def register_evaluators(self, register):
        from toolset import Evaluator
        from toolset.config import EvalConfig

        register(Evaluator("fake-eval", "Counts", EvalConfig, _fake_evaluate))

    @hookimpl
    def register_trainers(self, register):
        register(
            Trainer(
                "merging", "Counted, with a merge exporter", CountConfig, counted_train, merge_exporter="fake-merge"
            )
        )


def test_the_pipeline_runs_end_to_end_through_component_objects_without_click(fresh_plugins, tmp_path, monkeypatch):
    import click

    from toolset.config import load_config
    from toolset.runs.pipeline import run_pipeline

    def no_click(*args, **kwargs):
        raise AssertionError("a command line was invoked inside the pipeline")

    monkeypatch.setattr(click.Command, "main", no_click)
    monkeypatch.setattr(click.Command, "invoke", no_click)
    monkeypatch.setenv("TOOLSET_DISABLE_PLUGINS", "toolset.builtins.exporters")  # the fakes take their names
    fresh_plugins.reset()
    fresh_plugins.register_plugin(StagePlugin(), "stage-plugin")
    fresh_plugins.register_plugin(ObjectsPlugin(), "objects-plugin")
    CALLS.clear()
    from toolset.data.readers import sample_path

    base = tmp_path / "base-model"
    base.mkdir()
    overrides = [
        f"model.name={base}",
        "model.source=local",
        f"dataset.sft=[{sample_path('quickstart_sft.jsonl')}]",
        "dataset.validate=true",  # the real schema validator of toolset-schemas
        "train.stages=[plain,merging]",
        "export.formats=[gguf]",
        "eval.after_training=true",
        "eval.baseline=true",
        "eval.evaluator=fake-eval",
        "eval.tools=none",
        "eval.prompt_set=claudesidian-quick",
    ]
    lines: list[str] = []
    state = run_pipeline(load_config(overrides=overrides), run_dir=tmp_path / "pipe", echo=lines.append)
    steps = ["validate", "plain", "merging", "export-merged", "export-gguf", "export-base", "eval-base", "eval"]
    assert list(state["stages"]) == steps
    assert state["stages"]["validate"]["conversations"] == 352 and state["stages"]["validate"]["errors"] == 0
    assert state["stages"]["eval"] == {"cases": 2, "passed": 1, "accuracy": 0.5}
    # eval.tools=none overrides the offer of training (dataset.tools: used -> expected), which is still recorded;
    # the untrained model is asked the same way, with no training offer to record
    evaluated = [
        "evaluate base-q8_0.gguf on claudesidian-quick, offered none, trained None",
        "evaluate model-q8_0.gguf on claudesidian-quick, offered none, trained expected",
    ]
    assert CALLS[:2] == ["plain", "counted"] and CALLS[2:] == evaluated
    gguf = tmp_path / "pipe" / "export" / "gguf"
    assert (gguf / "model-q8_0.gguf").read_text().endswith("export/merged")
    assert (gguf / "base-q8_0.gguf").read_text() == f"made from {base}"


def test_training_data_that_does_not_validate_stops_the_pipeline_before_training(pipeline, tmp_path):
    from toolset.data.readers import sample_path

    line = sample_path("quickstart_sft.jsonl").read_text().splitlines()[0]
    call = json.loads(line)["conversations"][2]["tool_calls"][0]["function"]["name"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line.replace(call, "noSuchTool") + "\n")
    config = write_config(tmp_path, ["plain"], dataset={"sft": [str(bad)], "validate": True})
    code, output = pipeline(str(config), "--run-dir", str(tmp_path / "pipe"))
    assert code == 1 and "dataset.validate: the training data has 1 error(s)" in output, output
    assert f"toolset validate {bad}" in output and CALLS == []
