"""The plugin manager: one object holding pluggy's manager and what was learnt while loading plugins.

Hooks are called through pluggy, one plugin at a time (``pm.subset_hook_caller``), so that what each plugin
registers, and any exception it raises, is recorded as its own and never stops the others.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import attrs
import pluggy

from toolset import hookspecs
from toolset.components import Backend, Component, Evaluator, Exporter, Formatter, Toolset, Trainer, Validator
from toolset.errors import DuplicateComponentError, closest
from toolset.plugins.candidates import Candidate, find_candidates
from toolset.plugins.entry_points import INSTALLED
from toolset.plugins.registry import Registry
from toolset.plugins.versions import installed_version

HOOKS: dict[str, type[Component]] = {
    "register_toolsets": Toolset,
    "register_formatters": Formatter,
    "register_trainers": Trainer,
    "register_exporters": Exporter,
    "register_backends": Backend,
    "register_evaluators": Evaluator,
    "register_validators": Validator,
}
HOOK_NAMES = (*HOOKS, "register_commands")
KINDS: tuple[str, ...] = tuple(expected.kind for expected in HOOKS.values())


@attrs.define
class PluginInfo:
    """What ``toolset plugins`` shows about one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    hooks: list[str] = attrs.Factory(list)
    registers: dict[str, list[str]] = attrs.Factory(dict)
    commands: list[str] = attrs.Factory(list)
    errors: list[str] = attrs.Factory(list)


class Registries:
    """Every registered component by kind. A kind is built when first read, after importing the plugins that
    provide it, and rebuilt when the registered plugins change."""

    def __init__(self, plugins: Plugins) -> None:
        self._plugins = plugins
        self._built: dict[str, tuple[frozenset[int], Registry[Any]]] = {}

    def for_kind(self, kind: str) -> Registry[Any]:
        self._plugins.load(kind=kind)
        key = frozenset(id(plugin) for plugin in self._plugins.pm.get_plugins())
        built = self._built.get(kind)
        if built is None or built[0] != key:
            built = self._built[kind] = (key, self._plugins.build(kind))
        return built[1]

    @property
    def toolsets(self) -> Registry[Toolset]:
        return self.for_kind("toolset")

    @property
    def formatters(self) -> Registry[Formatter]:
        return self.for_kind("formatter")

    @property
    def trainers(self) -> Registry[Trainer]:
        return self.for_kind("trainer")

    @property
    def exporters(self) -> Registry[Exporter]:
        return self.for_kind("exporter")

    @property
    def backends(self) -> Registry[Backend]:
        return self.for_kind("backend")

    @property
    def evaluators(self) -> Registry[Evaluator]:
        return self.for_kind("evaluator")

    @property
    def validators(self) -> Registry[Validator]:
        return self.for_kind("validator")

    def all(self) -> list[Component]:
        return [c for kind in KINDS for c in self.for_kind(kind)]


class Plugins:
    """The plugins of this process: pluggy's manager ``pm``, a record per plugin, and what is loaded so far."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("toolset")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registries = Registries(self)
        self._candidates: list[Candidate] | None = None
        self._considered: set[str] = set()  # candidates already imported (or that failed to)
        self._all_loaded = False
        self._commands_added: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
        self._reported: set[tuple[str, str]] = set()

    def reset(self) -> None:
        """Forget every plugin, registry and scan so the next call loads afresh (for tests)."""
        for name, _plugin in list(self.pm.list_name_plugin()):
            self.pm.unregister(name=name)
        self.infos.clear()
        self.registries = Registries(self)
        self._candidates = None
        self._considered.clear()
        self._all_loaded = False
        self._commands_added.clear()
        self._reported.clear()
        INSTALLED.clear()

    def unknown_hooks(self, plugin: object) -> list[str]:
        """A message for each ``register_*`` hook implementation of ``plugin`` that no hookspec names."""
        problems = []
        for attribute in dir(plugin):
            if not attribute.startswith("register_") or attribute in HOOK_NAMES:
                continue
            if self.pm.parse_hookimpl_opts(plugin, attribute) is None:
                continue
            close = closest(attribute, HOOK_NAMES)
            hint = f" (did you mean {close}?)" if close else ""
            problems.append(f"unknown hook {attribute}{hint}")
        return problems

    def register(self, plugin: object, name: str, *, info: PluginInfo | None = None) -> bool:
        """Register ``plugin`` under ``name``; record and reject it if it uses an unknown hook."""
        info = info or PluginInfo(name=name)
        self.infos[name] = info
        problems = self.unknown_hooks(plugin)
        try:
            hash(plugin)
        except TypeError:  # pluggy calls one plugin's hooks by leaving the others out of a set
            problems.append(f"the plugin object must be hashable ({type(plugin).__name__} is not)")
        if problems:
            info.errors.extend(problems)
            return False
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            info.errors.append(str(exc))
            return False
        info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
        return True

    def unregister(self, name: str) -> None:
        """Remove a plugin (tests use this to undo :meth:`register`)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.infos.pop(name, None)
        for added in self._commands_added.values():
            added.discard(name)

    def candidates(self) -> list[Candidate]:
        """The plugins that may load (computed once until :meth:`reset`)."""
        if self._candidates is None:
            self._candidates = find_candidates()
        return self._candidates

    def declared(self) -> dict[str, tuple[frozenset[str] | None, frozenset[str]]]:
        """What each candidate plugin declares: ``name -> (kinds or None, commands)``."""
        return {candidate.name: (candidate.kinds, candidate.commands) for candidate in self.candidates()}

    def load(self, *, kind: str | None = None, command: str | None = None) -> None:
        """Import the plugins needed for component ``kind`` or command ``command`` (neither: all of them)."""
        if self._all_loaded:
            return
        for candidate in self.candidates():
            if candidate.name in self._considered or not candidate.wanted(kind, command):
                continue
            self._considered.add(candidate.name)
            if not self.pm.has_plugin(candidate.name):
                self._load_one(candidate)
        if kind is None and command is None:
            self._all_loaded = True

    def _load_one(self, candidate: Candidate) -> None:
        info = PluginInfo(name=candidate.name, distribution=candidate.distribution, builtin=candidate.builtin)
        if candidate.builtin:
            plugin = candidate.load()  # a broken built-in is a bug of toolset-core: let it raise
        else:
            try:
                plugin = candidate.load()
            except Exception as exc:  # any import failure is the plugin's, not the CLI's
                info.errors.append(f"failed to import {candidate.target}: {type(exc).__name__}: {exc}")
                self.infos[candidate.name] = info
                return
        self.register(plugin, candidate.name, info=info)

    def call_hook(self, hook: str, plugin_name: str, argument: Any) -> None:
        """Call ``hook`` of plugin ``plugin_name`` alone, through pluggy; record an exception instead of raising."""
        plugin = self.pm.get_plugin(plugin_name)
        if plugin is None:
            return
        others = [other for other in self.pm.get_plugins() if other is not plugin]
        parameter = "cli" if hook == "register_commands" else "register"
        try:
            self.pm.subset_hook_caller(hook, remove_plugins=others)(**{parameter: argument})
        except Exception as exc:
            info = self.infos.setdefault(plugin_name, PluginInfo(name=plugin_name))
            info.errors.append(f"{hook} raised {type(exc).__name__}: {exc}")

    def add_commands(self, group: Any, *, command: str | None = None) -> None:
        """Let the loaded plugins add their click commands to ``group`` (each plugin once per group); note which
        came from which plugin. ``command``: import only the plugins that declare it first; None: every plugin."""
        self.load(command=command)
        added = self._commands_added.setdefault(group, set())
        for name, _plugin in sorted(self.pm.list_name_plugin(), key=lambda item: item[0]):
            if name in added:
                continue
            added.add(name)
            before = set(group.commands)
            self.call_hook("register_commands", name, group)
            self.infos.setdefault(name, PluginInfo(name=name)).commands = sorted(set(group.commands) - before)

    def build(self, kind: str) -> Registry[Any]:
        """A registry of ``kind`` from every registered plugin's ``register_<kind>s`` hook, in name order."""
        registry: Registry[Any] = Registry(kind)
        hook = f"register_{kind}s"
        for info in self.infos.values():
            info.registers.pop(kind + "s", None)
        for plugin_name, _plugin in sorted(self.pm.list_name_plugin(), key=lambda item: item[0]):
            info = self.infos.setdefault(plugin_name, PluginInfo(name=plugin_name))
            self.call_hook(hook, plugin_name, _register_callback(registry, HOOKS[hook], plugin_name, info))
        return registry

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, with what it registers; every plugin is imported first."""
        self.load()
        self.registries.all()
        for info in self.infos.values():
            if info.version is None and info.distribution:
                info.version = installed_version(info.distribution)
            info.registers = {kind + "s": info.registers[kind + "s"] for kind in KINDS if kind + "s" in info.registers}
        return sorted(self.infos.values(), key=lambda info: (not info.builtin, info.name))

    def new_errors(self) -> list[tuple[str, str]]:
        """``(plugin, error)`` recorded since the last call, without importing anything (for the CLI's stderr)."""
        fresh = [(name, error) for name, info in sorted(self.infos.items()) for error in info.errors]
        fresh = [item for item in fresh if item not in self._reported]
        self._reported.update(fresh)
        return fresh


def _register_callback(
    registry: Registry[Any], expected: type[Component], plugin_name: str, info: PluginInfo
) -> Callable[[Component], None]:
    def register(component: Component) -> None:
        if not isinstance(component, expected):
            info.errors.append(
                f"register_{expected.kind}s received {type(component).__name__}, expected {expected.__name__}"
            )
            return
        component = attrs.evolve(component, plugin=plugin_name)
        try:
            registry.add(component)
        except DuplicateComponentError as exc:
            info.errors.append(str(exc))
            return
        info.registers.setdefault(expected.kind + "s", []).append(component.name)

    return register
