"""Plugin loading, environment filters, unknown hooks, registries and their error messages."""

from __future__ import annotations

import attrs
import pytest

from toolset import Backend, ChatResponse, ToolCatalog, Toolset, ToolSpec, Trainer, hookimpl
from toolset.errors import UnknownComponentError


@attrs.define
class EchoConfig:
    prefix: str = "echo: "


class EchoClient:
    def __init__(self, config):
        self.config = config

    def chat(self, messages, tools=None, **options):
        return ChatResponse(content=self.config.prefix + messages[-1]["content"])

    def list_models(self):
        return ["echo"]


class EchoPlugin:
    @hookimpl
    def register_backends(self, register):
        register(Backend("echo", "Repeats the last message", EchoConfig, EchoClient))

    @hookimpl
    def register_toolsets(self, register):
        register(
            Toolset(
                "tiny-tools",
                "One tool",
                None,
                lambda _config: ToolCatalog("tiny-tools", [ToolSpec("ping", "Ping", {"type": "object"})]),
            )
        )


ECHO_PLUGIN = EchoPlugin()


def test_registered_plugin_components_are_found(fresh_plugins):
    fresh_plugins.register_plugin(EchoPlugin(), "echo-plugin")
    registries = fresh_plugins.get_registries()
    backend = registries.backends.get("echo")
    assert backend.plugin == "echo-plugin"
    client = backend.factory(backend.default_config())
    assert client.chat([{"role": "user", "content": "hi"}]).content == "echo: hi"
    assert registries.toolsets.get("tiny-tools").factory(None).names == ["ping"]


def test_every_project_distribution_loads(fresh_plugins):
    infos = {info.name: info for info in fresh_plugins.plugin_infos()}
    for distribution in ("toolset-schemas", "toolset-cuda", "toolset-mlx", "toolset-eval"):
        assert distribution in infos, f"{distribution} entry point did not load"
        assert infos[distribution].distribution == distribution
        assert infos[distribution].version == "0.1.0"
        assert not infos[distribution].errors
    builtins = [info for info in infos.values() if info.builtin]
    assert {info.distribution for info in builtins} == {"toolset-core"}


def test_unknown_trainer_names_the_install_command(fresh_plugins, monkeypatch):
    from toolset.plugins import registry

    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda d: None if d == "toolset-cuda" else real(d))
    monkeypatch.setenv("TOOLSET_DISABLE_PLUGINS", "toolset-cuda")  # as if toolset-cuda were absent
    fresh_plugins.reset()
    with pytest.raises(UnknownComponentError) as excinfo:
        fresh_plugins.get_registries().trainers.get("sft")
    message = str(excinfo.value)
    assert "provided by toolset-cuda, which is not installed" in message
    assert 'Install it with: pip install "toolset-core[cuda]"' in message


def test_unknown_trainer_when_plugin_is_disabled(fresh_plugins, monkeypatch):
    monkeypatch.setenv("TOOLSET_DISABLE_PLUGINS", "toolset-cuda")
    fresh_plugins.reset()
    with pytest.raises(UnknownComponentError, match=r"toolset-cuda 0\.1\.0 is installed but not loaded"):
        fresh_plugins.get_registries().trainers.get("kto")


def test_unknown_name_lists_what_is_available_and_suggests(fresh_plugins):
    fresh_plugins.register_plugin(EchoPlugin(), "echo-plugin")
    with pytest.raises(UnknownComponentError) as excinfo:
        fresh_plugins.get_registries().backends.get("ecko")
    message = str(excinfo.value)
    assert "Did you mean 'echo'?" in message
    assert "Available backends:" in message and "echo" in message


def test_duplicate_names_are_rejected_naming_both_origins(fresh_plugins):
    fresh_plugins.register_plugin(EchoPlugin(), "first")

    class Again:
        @hookimpl
        def register_backends(self, register):
            register(Backend("echo", "Another echo", None, lambda config: None))

    fresh_plugins.register_plugin(Again(), "second")
    registries = fresh_plugins.get_registries()
    assert registries.backends.get("echo").plugin == "first"
    errors = {info.name: info.errors for info in fresh_plugins.plugin_infos()}
    assert any("'first'" in error and "'second'" in error for error in errors["second"])


def test_unknown_hook_is_rejected_with_a_suggestion(fresh_plugins):
    class Typo:
        @hookimpl
        def register_trainer(self, register):
            raise AssertionError("must never be called")

    assert not fresh_plugins.register_plugin(Typo(), "typo")
    info = {info.name: info for info in fresh_plugins.plugin_infos()}["typo"]
    assert info.errors == ["unknown hook register_trainer (did you mean register_trainers?)"]
    assert not fresh_plugins.pm.has_plugin("typo")


def test_wrong_component_type_and_raising_hook_are_recorded(fresh_plugins):
    class Broken:
        @hookimpl
        def register_trainers(self, register):
            register(Backend("not-a-trainer", "wrong kind", None, lambda config: None))

        @hookimpl
        def register_exporters(self, register):
            raise RuntimeError("boom")

    fresh_plugins.register_plugin(Broken(), "broken")
    registries = fresh_plugins.get_registries()
    assert "not-a-trainer" not in registries.trainers
    errors = {info.name: info.errors for info in fresh_plugins.plugin_infos()}["broken"]
    assert "register_trainers received Backend, expected Trainer" in errors
    assert "register_exporters raised RuntimeError: boom" in errors


def test_load_plugins_restricts_and_disable_blocks(fresh_plugins, monkeypatch):
    monkeypatch.setenv("TOOLSET_LOAD_PLUGINS", "toolset-eval")
    fresh_plugins.reset()
    names = {info.name for info in fresh_plugins.plugin_infos()}
    assert "toolset-eval" in names and "toolset-cuda" not in names and "toolset-schemas" not in names
    assert "toolset.builtins.commands" in names  # built-ins always load unless disabled

    monkeypatch.delenv("TOOLSET_LOAD_PLUGINS")
    monkeypatch.setenv("TOOLSET_DISABLE_PLUGINS", "toolset-eval, exporters")
    fresh_plugins.reset()
    names = {info.name for info in fresh_plugins.plugin_infos()}
    assert "toolset-eval" not in names and "toolset-cuda" in names
    assert "toolset.builtins.exporters" not in names
    assert "adapter" not in fresh_plugins.get_registries().exporters


def test_plugin_that_fails_to_import_is_reported(fresh_plugins, monkeypatch):
    import importlib.metadata

    broken = importlib.metadata.EntryPoint(name="broken-plugin", value="toolset_no_such_module.plugin", group="toolset")
    from toolset.plugins import candidates as plugin_candidates

    real = plugin_candidates.plugin_entry_points
    monkeypatch.setattr(plugin_candidates, "plugin_entry_points", lambda: [*real(), broken])
    fresh_plugins.reset()
    info = {info.name: info for info in fresh_plugins.plugin_infos()}["broken-plugin"]
    assert "failed to import toolset_no_such_module.plugin: ModuleNotFoundError" in info.errors[0]
    assert "adapter" in fresh_plugins.get_registries().exporters  # everything else still loads


def test_registries_follow_registration_changes(fresh_plugins):
    assert "echo" not in fresh_plugins.get_registries().backends
    fresh_plugins.register_plugin(EchoPlugin(), "echo-plugin")
    assert "echo" in fresh_plugins.get_registries().backends
    fresh_plugins.unregister_plugin("echo-plugin")
    assert "echo" not in fresh_plugins.get_registries().backends


def test_availability_reports_missing_modules():
    trainer = Trainer(
        "needs-missing", "Needs a module that is absent", None, lambda *a: None, requires=("no_such_mod",)
    )
    availability = trainer.availability()
    assert not availability.usable
    assert "no_such_mod" in availability.detail


def test_each_project_plugin_declares_exactly_what_it_provides(fresh_plugins):
    """The ``toolset.components`` / ``toolset.commands`` entry points match what the plugin registers."""
    import click

    fresh_plugins.add_commands(click.Group())
    infos = {info.name: info for info in fresh_plugins.plugin_infos()}
    declared = fresh_plugins.declared()
    for distribution in ("toolset-schemas", "toolset-cuda", "toolset-mlx", "toolset-eval"):
        kinds, commands = declared[distribution]
        assert kinds is not None, f"{distribution} declares nothing in its pyproject.toml"
        info = infos[distribution]
        assert {kind + "s" for kind in kinds} == set(info.registers), distribution
        assert set(commands) == set(info.commands), distribution


def test_a_kind_imports_only_the_plugins_that_provide_it(fresh_plugins):
    assert "claudesidian" in fresh_plugins.get_registries().toolsets
    loaded = {name for name, _plugin in fresh_plugins.pm.list_name_plugin()}
    assert "toolset-schemas" in loaded
    assert not loaded & {"toolset-cuda", "toolset-mlx", "toolset-eval"}
    assert "sft" in fresh_plugins.get_registries().trainers  # now toolset-cuda (and toolset-mlx) load
    assert fresh_plugins.pm.has_plugin("toolset-cuda")
    assert not fresh_plugins.pm.has_plugin("toolset-eval")


def test_a_command_imports_only_the_plugins_that_declare_it(fresh_plugins):
    import click

    group = click.Group()
    fresh_plugins.add_commands(group, command="eval")
    assert "eval" in group.commands and "validate" not in group.commands
    assert not fresh_plugins.pm.has_plugin("toolset-schemas") and not fresh_plugins.pm.has_plugin("toolset-cuda")
    fresh_plugins.add_commands(group)  # everything; each plugin adds its commands once per group
    assert {"train", "validate", "eval", "mlx", "config"} <= set(group.commands)
    infos = {info.name: info for info in fresh_plugins.plugin_infos()}
    assert infos["toolset-eval"].commands == ["eval"]
    assert "train" in infos["toolset.builtins.commands"].commands  # one `toolset train` for every trainer


def test_an_undeclared_plugin_loads_with_any_other(fresh_plugins, monkeypatch):
    import importlib.metadata

    undeclared = importlib.metadata.EntryPoint(name="echo-ep", value=f"{__name__}:ECHO_PLUGIN", group="toolset")
    from toolset.plugins import candidates as plugin_candidates

    real = plugin_candidates.plugin_entry_points
    monkeypatch.setattr(plugin_candidates, "plugin_entry_points", lambda: [*real(), undeclared])
    fresh_plugins.reset()
    assert "claudesidian" in fresh_plugins.get_registries().toolsets
    assert fresh_plugins.pm.has_plugin("echo-ep")
    assert not fresh_plugins.pm.has_plugin("toolset-eval")


def test_hooks_are_called_through_pluggy_one_plugin_at_a_time(fresh_plugins):
    calls = []
    undo = fresh_plugins.pm.add_hookcall_monitoring(
        lambda hook, impls, kwargs: calls.append((hook, [impl.plugin_name for impl in impls])),
        lambda outcome, hook, impls, kwargs: None,
    )
    try:
        fresh_plugins.register_plugin(EchoPlugin(), "echo-plugin")
        assert "echo" in fresh_plugins.get_registries().backends
    finally:
        undo()
    assert ("register_backends", ["echo-plugin"]) in calls
    assert all(len(plugins) <= 1 for _hook, plugins in calls)


def test_an_unhashable_plugin_is_rejected_with_the_reason(fresh_plugins):
    @attrs.define
    class Unhashable:
        @hookimpl
        def register_backends(self, register):
            raise AssertionError("must never be called")

    assert not fresh_plugins.register_plugin(Unhashable(), "unhashable")
    info = {info.name: info for info in fresh_plugins.plugin_infos()}["unhashable"]
    assert info.errors == ["the plugin object must be hashable (Unhashable is not)"]
