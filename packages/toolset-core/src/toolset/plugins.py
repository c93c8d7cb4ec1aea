"""Plugin loading: built-ins and entry points (group ``toolset``) share one pluggy manager.

``TOOLSET_LOAD_PLUGINS`` (comma list of entry-point or distribution names) restricts which external
plugins load; ``TOOLSET_DISABLE_PLUGINS`` blocks plugins by name, built-ins included. A plugin that
fails to import, uses an unknown hook or raises while registering is recorded, never fatal.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy

from toolset import hookspecs
from toolset.components import Backend, Component, Exporter, Formatter, Toolset, Trainer
from toolset.errors import DuplicateComponentError, closest
from toolset.registry import Registry

ENTRY_POINT_GROUP = "toolset"
BUILTIN_PLUGINS: tuple[str, ...] = (
    "toolset.builtins.commands",
    "toolset.builtins.exporters",
    "toolset.builtins.formatters",
)
HOOKS: dict[str, type[Component]] = {
    "register_toolsets": Toolset,
    "register_formatters": Formatter,
    "register_trainers": Trainer,
    "register_exporters": Exporter,
    "register_backends": Backend,
}
HOOK_NAMES = (*HOOKS, "register_commands")

pm = pluggy.PluginManager("toolset")
pm.add_hookspecs(hookspecs)


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


@attrs.define
class Registries:
    """Every registered component by kind, plus what each plugin contributed."""

    toolsets: Registry[Toolset] = attrs.Factory(lambda: Registry("toolset"))
    formatters: Registry[Formatter] = attrs.Factory(lambda: Registry("formatter"))
    trainers: Registry[Trainer] = attrs.Factory(lambda: Registry("trainer"))
    exporters: Registry[Exporter] = attrs.Factory(lambda: Registry("exporter"))
    backends: Registry[Backend] = attrs.Factory(lambda: Registry("backend"))

    def for_kind(self, kind: str) -> Registry[Any]:
        return getattr(self, kind + "s")

    def all(self) -> list[Component]:
        return [c for kind in ("toolset", "formatter", "trainer", "exporter", "backend") for c in self.for_kind(kind)]


_infos: dict[str, PluginInfo] = {}
_loaded = False
_cache: tuple[frozenset[int], Registries] | None = None


def _names_from_env(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def unknown_hooks(plugin: object) -> list[str]:
    problems = []
    for attribute in dir(plugin):
        if not attribute.startswith("register_") or attribute in HOOK_NAMES:
            continue
        if pm.parse_hookimpl_opts(plugin, attribute) is None:
            continue
        close = closest(attribute, HOOK_NAMES)
        hint = f" (did you mean {close}?)" if close else ""
        problems.append(f"unknown hook {attribute}{hint}")
    return problems


def register_plugin(plugin: object, name: str, *, info: PluginInfo | None = None) -> bool:
    """Register ``plugin`` under ``name``; record and reject it if it uses an unknown hook."""
    info = info or PluginInfo(name=name)
    _infos[name] = info
    problems = unknown_hooks(plugin)
    if problems:
        info.errors.extend(problems)
        return False
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        info.errors.append(str(exc))
        return False
    info.hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
    return True


def unregister_plugin(name: str) -> None:
    """Remove a plugin (tests use this to undo :func:`register_plugin`)."""
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _infos.pop(name, None)


def load_plugins() -> None:
    """Register built-in and entry-point plugins once, honouring the environment filters."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    blocked = _names_from_env("TOOLSET_DISABLE_PLUGINS") or set()
    allowed = _names_from_env("TOOLSET_LOAD_PLUGINS")
    for module_name in BUILTIN_PLUGINS:
        short = module_name.rsplit(".", 1)[-1]
        if module_name in blocked or short in blocked:
            continue
        info = PluginInfo(name=module_name, distribution="toolset-core", version=_version("toolset-core"), builtin=True)
        register_plugin(importlib.import_module(module_name), module_name, info=info)
    for entry_point in _entry_points():
        distribution = entry_point.dist.name if entry_point.dist else None
        names = {entry_point.name, distribution}
        if names & blocked or (allowed is not None and not names & allowed) or pm.has_plugin(entry_point.name):
            continue
        info = PluginInfo(
            name=entry_point.name,
            distribution=distribution,
            version=entry_point.dist.version if entry_point.dist else None,
        )
        try:
            plugin = entry_point.load()
        except Exception as exc:  # any import failure is the plugin's, not the CLI's
            info.errors.append(f"failed to import {entry_point.value}: {type(exc).__name__}: {exc}")
            _infos[entry_point.name] = info
            continue
        register_plugin(plugin, entry_point.name, info=info)


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    seen: set[str] = set()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in seen:  # the same distribution can appear twice on sys.path
            seen.add(entry_point.name)
            yield entry_point


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def plugin_infos() -> list[PluginInfo]:
    """Every plugin seen, loaded or not, with what it registers; registries are built first."""
    get_registries()
    return sorted(_infos.values(), key=lambda info: (not info.builtin, info.name))


def call_hook(hook: str, plugin_name: str, argument: Any) -> None:
    """Call one plugin's implementation of ``hook``; record an exception instead of raising it."""
    plugin = pm.get_plugin(plugin_name)
    implementation = getattr(plugin, hook, None)
    if implementation is None or pm.parse_hookimpl_opts(plugin, hook) is None:
        return
    parameter = "cli" if hook == "register_commands" else "register"
    try:
        implementation(**{parameter: argument})
    except Exception as exc:
        info = _infos.setdefault(plugin_name, PluginInfo(name=plugin_name))
        info.errors.append(f"{hook} raised {type(exc).__name__}: {exc}")


def add_commands(group: Any) -> None:
    """Let every loaded plugin add its click commands to ``group``; note which came from which plugin."""
    load_plugins()
    for name, _plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        before = set(group.commands)
        call_hook("register_commands", name, group)
        _infos.setdefault(name, PluginInfo(name=name)).commands = sorted(set(group.commands) - before)


def get_registries() -> Registries:
    """Build (or reuse) the registries from every registered plugin's ``register_*`` hooks."""
    global _cache
    load_plugins()
    key = frozenset(id(plugin) for plugin in pm.get_plugins())
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    registries = Registries()
    for info in _infos.values():
        info.registers = {}
    for plugin_name, _plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        info = _infos.setdefault(plugin_name, PluginInfo(name=plugin_name))
        for hook, expected in HOOKS.items():
            call_hook(hook, plugin_name, _register_callback(registries, expected, plugin_name, info))
    _cache = (key, registries)
    return registries


def _register_callback(
    registries: Registries, expected: type[Component], plugin_name: str, info: PluginInfo
) -> Callable[[Component], None]:
    def register(component: Component) -> None:
        if not isinstance(component, expected):
            info.errors.append(
                f"register_{expected.kind}s received {type(component).__name__}, expected {expected.__name__}"
            )
            return
        component = attrs.evolve(component, plugin=plugin_name)
        try:
            registries.for_kind(expected.kind).add(component)
        except DuplicateComponentError as exc:
            info.errors.append(str(exc))
            return
        info.registers.setdefault(expected.kind + "s", []).append(component.name)

    return register


def reset() -> None:
    """Forget every plugin and cached registry so the next call loads afresh (for tests)."""
    global _loaded, _cache
    for name, _plugin in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    _infos.clear()
    _loaded = False
    _cache = None
