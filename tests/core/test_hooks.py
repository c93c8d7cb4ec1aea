"""One test per hook through a plugin object that implements all of them, plus the meta-tests:
every hookspec is tested here and documented in docs/plugins.md (datasette's idea)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import attrs
import click
from click.testing import CliRunner

from toolset import (
    Backend,
    ChatResponse,
    Evaluator,
    Exporter,
    Formatter,
    ToolCatalog,
    Toolset,
    ToolSpec,
    Trainer,
    Validator,
    hookimpl,
)
from toolset import hookspecs as hookspecs_module
from toolset.plugins import HOOK_NAMES
from toolset.testing import assert_plugin_conforms, check_plugin

REPO = Path(__file__).resolve().parents[2]


@attrs.define
class UpperConfig:
    suffix: str = "!"


class Client:
    def __init__(self, config):
        self.config = config

    def chat(self, messages, tools=None, **options):
        return ChatResponse(content=messages[-1]["content"].upper() + self.config.suffix)

    def list_models(self):
        return ["upper"]


def upper_rows(conversations, config):
    return [{"text": str(c).upper()} for c in conversations]


def fake_train(run_config, run_dir, config):
    (Path(run_dir) / "final_model").mkdir(parents=True)
    return Path(run_dir) / "final_model"


def copy_export(source, destination, config):
    Path(destination).write_text(Path(source).read_text())
    return Path(destination)


def count_cases(model, prompt_set, config, *, output=None):
    Path(output).mkdir(parents=True, exist_ok=True)
    (Path(output) / "report.json").write_text(json.dumps({"model": str(model)}))
    return {"cases": len(prompt_set), "passed": prompt_set.count("a"), "accuracy": prompt_set.count("a") / 3}


@attrs.define
class LineReport:
    lines: list[str]

    @property
    def has_errors(self):
        return any(not line.startswith("{") for line in self.lines)

    def to_json(self):
        return {"lines": len(self.lines)}


def count_lines(files, toolset, config):
    return LineReport([line for f in files for line in Path(f).read_text().splitlines()])


class AllHooks:
    @hookimpl
    def register_toolsets(self, register):
        register(
            Toolset(
                "pair",
                "Two tools",
                None,
                lambda config: ToolCatalog(
                    "pair",
                    [
                        ToolSpec("a", "A", {"type": "object", "properties": {"x": {"type": "string"}}}),
                        ToolSpec("b", "B", {"type": "object"}),
                    ],
                ),
            )
        )

    @hookimpl
    def register_formatters(self, register):
        register(Formatter("upper", "Upper-cases rows", None, upper_rows))

    @hookimpl
    def register_trainers(self, register):
        register(Trainer("fake", "Creates an empty final_model folder", None, fake_train))

    @hookimpl
    def register_exporters(self, register):
        register(Exporter("copy", "Copies a file", None, copy_export))

    @hookimpl
    def register_backends(self, register):
        register(Backend("upper", "Answers in capitals", UpperConfig, Client))

    @hookimpl
    def register_evaluators(self, register):
        register(Evaluator("counter", "Counts the letter a", None, count_cases))

    @hookimpl
    def register_validators(self, register):
        register(Validator("lines", "Counts lines", None, count_lines))

    @hookimpl
    def register_commands(self, cli):
        @cli.command(name="hello-hooks")
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")


def test_register_toolsets(fresh_plugins):
    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    toolset = fresh_plugins.get_registries().toolsets.get("pair")
    assert toolset.factory(None).names == ["a", "b"]
    assert toolset.factory(None).to_openai()[0]["function"]["parameters"]["properties"] == {"x": {"type": "string"}}


def test_register_formatters(fresh_plugins):
    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    formatter = fresh_plugins.get_registries().formatters.get("upper")
    assert formatter.factory(["ab"], None) == [{"text": "AB"}]


def test_register_trainers(fresh_plugins, tmp_path):
    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    trainer = fresh_plugins.get_registries().trainers.get("fake")
    assert trainer.factory(None, tmp_path, None).is_dir()


def test_register_exporters(fresh_plugins, tmp_path):
    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    (tmp_path / "in.txt").write_text("weights")
    exporter = fresh_plugins.get_registries().exporters.get("copy")
    assert exporter.factory(tmp_path / "in.txt", tmp_path / "out.txt", None).read_text() == "weights"


def test_register_backends(fresh_plugins):
    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    backend = fresh_plugins.get_registries().backends.get("upper")
    client = backend.factory(backend.default_config())
    assert client.chat([{"role": "user", "content": "hi"}]).content == "HI!"


def test_register_evaluators(fresh_plugins, tmp_path):
    import toolset

    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    summary = toolset.evaluate("m.gguf", "aab", evaluator="counter", output=tmp_path / "eval", echo=None)
    assert summary == {"cases": 3, "passed": 2, "accuracy": 2 / 3}  # echo and the rest: not in its signature
    assert json.loads((tmp_path / "eval" / "report.json").read_text()) == {"model": "m.gguf"}


def test_register_validators(fresh_plugins, tmp_path):
    import toolset

    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    (tmp_path / "a.jsonl").write_text("{}\n{}\n")
    report = toolset.validate([tmp_path / "a.jsonl"], "pair", validator="lines")
    assert isinstance(report, toolset.ValidationReport) and report.to_json() == {"lines": 2}
    assert not report.has_errors


def test_register_commands(fresh_plugins):
    fresh_plugins.register_plugin(AllHooks(), "all-hooks")
    group = click.Group()
    fresh_plugins.add_commands(group)
    assert CliRunner().invoke(group, ["hello-hooks"]).output == "hello from a plugin\n"
    info = {i.name: i for i in fresh_plugins.plugin_infos()}["all-hooks"]
    assert info.commands == ["hello-hooks"]
    assert info.registers == {
        "toolsets": ["pair"],
        "formatters": ["upper"],
        "trainers": ["fake"],
        "exporters": ["copy"],
        "backends": ["upper"],
        "evaluators": ["counter"],
        "validators": ["lines"],
    }


def test_the_all_hooks_plugin_conforms():
    assert_plugin_conforms(AllHooks())


def test_every_hookspec_is_tested_here():
    source = Path(__file__).read_text()
    for hook in HOOK_NAMES:
        assert f"def test_{hook}(" in source, f"hook {hook} has no test_{hook} in {__file__}"
        assert f"def {hook}(self" in source, f"AllHooks does not implement {hook}"


def test_every_hookspec_is_documented():
    docs = (REPO / "docs" / "plugins.md").read_text()
    documented = set(re.findall(r"^### `(register_\w+)", docs, flags=re.MULTILINE))
    assert documented == set(HOOK_NAMES)
    for hook in HOOK_NAMES:
        assert getattr(hookspecs_module, hook).__doc__, f"{hook} has no docstring"


def test_hookspecs_fit_on_one_screen():
    lines = (REPO / "packages/toolset-core/src/toolset/hookspecs.py").read_text().splitlines()
    assert len(lines) <= 45


def test_conformance_kit_flags_problems():
    class Bad:
        @hookimpl
        def register_backends(self, register):
            register(Backend("Bad Name", "two\nlines", dict, lambda a, b, c: None))

    problems = check_plugin(Bad())
    assert any("name 'Bad Name'" in p for p in problems)
    assert any("description must be one non-empty line" in p for p in problems)
    assert any("is not an attrs class" in p for p in problems)
    assert any("factory must accept 1 positional" in p for p in problems)
    assert check_plugin(object()) == ["implements none of the toolset hooks: " + ", ".join(HOOK_NAMES)]


def test_conformance_kit_checks_what_the_pipeline_reads_from_a_trainer():
    class BadTrainer:
        @hookimpl
        def register_trainers(self, register):
            register(Trainer("t", "A trainer", None, fake_train, merge_exporter="Merged 16", describe=lambda: []))

    problems = check_plugin(BadTrainer())
    assert "trainer 't': merge_exporter 'Merged 16' must be None or an exporter name" in problems
    assert "trainer 't': describe must accept 2 positional arguments (run_config, config)" in problems


def test_the_architecture_page_lists_every_component_kind():
    from toolset.plugins.manager import HOOKS

    page = (REPO / "docs" / "architecture.md").read_text()
    listed = dict(re.findall(r"^\| `(\w+)` \| `(register_\w+)` \|", page, flags=re.MULTILINE))
    assert listed == {component.kind: hook for hook, component in HOOKS.items()}
