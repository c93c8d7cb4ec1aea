"""Plugin loading: built-ins and entry points (group ``toolset``) share one pluggy manager.

``TOOLSET_LOAD_PLUGINS`` (comma list of entry-point or distribution names) restricts which external
plugins load; ``TOOLSET_DISABLE_PLUGINS`` blocks plugins by name, built-ins included. A plugin that
fails to import, uses an unknown hook or raises while registering is recorded, never fatal.

Plugins are imported when first needed. A distribution may declare what its plugin provides in two more
entry-point groups, each entry pointing at the plugin module: ``toolset.components`` (entry names among
``toolsets``, ``formatters``, ``trainers``, ``exporters``, ``backends``) and ``toolset.commands`` (entry names:
the top-level commands it adds). A declared plugin is imported only when one of its kinds or commands is
needed, or when everything is (``toolset plugins``, ``toolset doctor``, ``toolset --help``); a plugin that
declares nothing is imported whenever any plugin is.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pluggy

from toolset import hookspecs
from toolset.components import Backend, Component, Exporter, Formatter, Toolset, Trainer
from toolset.errors import DuplicateComponentError, closest
from toolset.registry import Registry

ENTRY_POINT_GROUP = "toolset"
COMPONENTS_GROUP = "toolset.components"
COMMANDS_GROUP = "toolset.commands"
BUILTIN_PLUGINS: tuple[str, ...] = (
    "toolset.builtins.commands",
    "toolset.builtins.exporters",
    "toolset.builtins.formatters",
)
# What the built-ins provide, like the entry-point declarations (commands: None, they always load).
BUILTIN_KINDS: dict[str, frozenset[str] | None] = {
    "toolset.builtins.commands": None,
    "toolset.builtins.exporters": frozenset({"exporter"}),
    "toolset.builtins.formatters": frozenset({"formatter"}),
}
HOOKS: dict[str, type[Component]] = {
    "register_toolsets": Toolset,
    "register_formatters": Formatter,
    "register_trainers": Trainer,
    "register_exporters": Exporter,
    "register_backends": Backend,
}
HOOK_NAMES = (*HOOKS, "register_commands")
KINDS: tuple[str, ...] = tuple(expected.kind for expected in HOOKS.values())

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


class _Candidate:
    """A plugin that may be imported: its entry point (or built-in module) and what it declares.

    ``kinds`` is None for a plugin that declares nothing: it loads whenever any plugin does. (A plain class:
    an attrs class costs half a millisecond of start-up to build.)
    """

    __slots__ = ("builtin", "commands", "info", "kinds", "load", "name", "target")

    def __init__(
        self,
        *,
        name: str,
        target: str,
        load: Callable[[], object],
        info: Callable[[], PluginInfo],
        kinds: frozenset[str] | None = None,
        commands: frozenset[str] = frozenset(),
        builtin: bool = False,
    ) -> None:
        self.name, self.target, self.load, self.info = name, target, load, info  # target: named in import errors
        self.kinds, self.commands, self.builtin = kinds, commands, builtin

    def wanted(self, kind: str | None, command: str | None) -> bool:
        if self.kinds is None or (kind is None and command is None):
            return True
        return kind in self.kinds or command in self.commands


class Registries:
    """Every registered component by kind. A kind is built when first read, after importing the plugins that
    provide it, and rebuilt when the registered plugins change."""

    def __init__(self) -> None:
        self._built: dict[str, tuple[frozenset[int], Registry[Any]]] = {}

    def for_kind(self, kind: str) -> Registry[Any]:
        _load(kind=kind)
        key = frozenset(id(plugin) for plugin in pm.get_plugins())
        built = self._built.get(kind)
        if built is None or built[0] != key:
            built = self._built[kind] = (key, _build(kind))
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

    def all(self) -> list[Component]:
        return [c for kind in KINDS for c in self.for_kind(kind)]


_infos: dict[str, PluginInfo] = {}
_candidates: list[_Candidate] | None = None
_considered: set[str] = set()  # candidates already imported (or that failed to)
_all_loaded = False
_registries: Registries | None = None
_commands_added: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_reported: set[tuple[str, str]] = set()
_entry_point_cache: Any = None
_folder_versions: dict[str, str] = {}  # normalized distribution name -> version, from dist-info folder names


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
    for added in _commands_added.values():
        added.discard(name)


def load_plugins() -> None:
    """Import and register every built-in and entry-point plugin, honouring the environment filters."""
    _load()


def _load(*, kind: str | None = None, command: str | None = None) -> None:
    """Import the plugins needed for component ``kind`` or command ``command`` (neither: all of them)."""
    global _all_loaded
    if _all_loaded:
        return
    for candidate in _plugin_candidates():
        if candidate.name in _considered or not candidate.wanted(kind, command):
            continue
        _considered.add(candidate.name)
        if pm.has_plugin(candidate.name):
            continue
        info = candidate.info()
        if candidate.builtin:
            plugin = candidate.load()  # a broken built-in is a bug of toolset-core: let it raise
        else:
            try:
                plugin = candidate.load()
            except Exception as exc:  # any import failure is the plugin's, not the CLI's
                info.errors.append(f"failed to import {candidate.target}: {type(exc).__name__}: {exc}")
                _infos[candidate.name] = info
                continue
        register_plugin(plugin, candidate.name, info=info)
    if kind is None and command is None:
        _all_loaded = True


def _plugin_candidates() -> list[_Candidate]:
    """Built-ins, then entry points, minus those the environment filters out (computed once)."""
    global _candidates
    if _candidates is not None:
        return _candidates
    blocked = _names_from_env("TOOLSET_DISABLE_PLUGINS") or set()
    allowed = _names_from_env("TOOLSET_LOAD_PLUGINS")
    found = []
    for module_name in BUILTIN_PLUGINS:
        if module_name in blocked or module_name.rsplit(".", 1)[-1] in blocked:
            continue
        found.append(
            _Candidate(
                name=module_name,
                target=module_name,
                load=lambda module_name=module_name: importlib.import_module(module_name),
                info=lambda module_name=module_name: PluginInfo(
                    name=module_name, distribution="toolset-core", builtin=True
                ),
                kinds=BUILTIN_KINDS.get(module_name),
                builtin=True,
            )
        )
    entry_points = list(_entry_points())
    declarations = _declarations() if entry_points else {}
    for entry_point in entry_points:
        distribution = entry_point.dist.name if entry_point.dist else None
        names = {entry_point.name, distribution}
        if names & blocked or (allowed is not None and not names & allowed):
            continue
        kinds, commands = declarations.get((distribution, entry_point.value), (None, frozenset()))
        found.append(
            _Candidate(
                name=entry_point.name,
                target=entry_point.value,
                load=entry_point.load,
                info=lambda name=entry_point.name, distribution=distribution: PluginInfo(
                    name=name, distribution=distribution
                ),
                kinds=kinds,
                commands=commands,
            )
        )
    _candidates = found
    return found


class _Distribution:
    __slots__ = ("name", "version")

    def __init__(self, name: str, version: str | None = None) -> None:
        self.name, self.version = name, version


class _EntryPoint:
    """One line of a distribution's ``entry_points.txt``: the parts of importlib.metadata's EntryPoint used here."""

    __slots__ = ("dist", "group", "name", "value")

    def __init__(self, name: str, value: str, group: str, dist: _Distribution) -> None:
        self.name, self.value, self.group, self.dist = name, value, group, dist

    def load(self) -> Any:
        module, _, attribute = self.value.partition("[")[0].partition(":")
        found = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            found = getattr(found, part)
        return found


class _EntryPoints(list):
    def select(self, *, group: str) -> list[Any]:
        return [entry_point for entry_point in self if entry_point.group == group]


def _all_entry_points() -> Any:
    """Every entry point installed (cached until :func:`reset`)."""
    global _entry_point_cache
    if _entry_point_cache is None:
        _entry_point_cache = _read_entry_points()
        if _entry_point_cache is None:  # a zip file on sys.path: let importlib.metadata read it
            import importlib.metadata

            _entry_point_cache = importlib.metadata.entry_points()
    return _entry_point_cache


def _read_entry_points() -> _EntryPoints | None:
    """The ``entry_points.txt`` of every ``*.dist-info`` / ``*.egg-info`` folder on ``sys.path``, read directly
    (importing importlib.metadata costs more than the CLI's whole start-up budget for it); like importlib.metadata,
    the first distribution of a name on the path wins. None if ``sys.path`` holds a zip file."""
    found = _EntryPoints()
    seen: set[str] = set()
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            return None
        except OSError:
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            base, _, rest = stem.partition("-")
            distribution = re.sub(r"[-_.]+", "-", base).lower()
            if distribution in seen:
                continue
            if suffix == "dist-info" and rest:  # NAME-VERSION.dist-info
                _folder_versions.setdefault(distribution, rest)
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                seen.add(distribution)
                continue
            seen.add(distribution)
            dist, group = _Distribution(distribution, _folder_versions.get(distribution)), ""
            for line in text.splitlines():
                line = line.strip()
                if not line or line[0] in "#;":
                    continue
                if line[0] == "[" and line[-1] == "]":
                    group = line[1:-1].strip()
                elif "=" in line:
                    key, _, value = line.partition("=")
                    found.append(_EntryPoint(key.strip(), value.strip(), group, dist))
    return found


def _entry_points() -> Iterator[Any]:
    """The entry points of group ``toolset``, each name once."""
    seen: set[str] = set()
    for entry_point in _all_entry_points().select(group=ENTRY_POINT_GROUP):
        if entry_point.name not in seen:  # the same distribution can appear twice on sys.path
            seen.add(entry_point.name)
            yield entry_point


def _declarations() -> dict[tuple[str | None, str], tuple[frozenset[str], frozenset[str]]]:
    """``(distribution, plugin module) -> (kinds, commands)`` from the groups ``toolset.components`` / ``.commands``."""
    everything = _all_entry_points()
    declared: dict[tuple[str | None, str], tuple[set[str], set[str]]] = {}
    for group, index in ((COMPONENTS_GROUP, 0), (COMMANDS_GROUP, 1)):
        for entry_point in everything.select(group=group):
            key = (entry_point.dist.name if entry_point.dist else None, entry_point.value)
            name = entry_point.name.removesuffix("s") if index == 0 else entry_point.name
            declared.setdefault(key, (set(), set()))[index].add(name)
    return {key: (frozenset(kinds), frozenset(commands)) for key, (kinds, commands) in declared.items()}


def _version(distribution: str) -> str | None:
    """The installed version: from the ``NAME-VERSION.dist-info`` folder name seen by the entry-point scan,
    else from importlib.metadata."""
    _all_entry_points()
    found = _folder_versions.get(re.sub(r"[-_.]+", "-", distribution).lower())
    if found:
        return found
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def plugin_infos() -> list[PluginInfo]:
    """Every plugin seen, loaded or not, with what it registers; every plugin is imported first."""
    _load()
    get_registries().all()
    for info in _infos.values():
        if info.version is None and info.distribution:
            info.version = _version(info.distribution)
        info.registers = {kind + "s": info.registers[kind + "s"] for kind in KINDS if kind + "s" in info.registers}
    return sorted(_infos.values(), key=lambda info: (not info.builtin, info.name))


def new_errors() -> list[tuple[str, str]]:
    """``(plugin, error)`` recorded since the last call, without importing anything (for the CLI's stderr)."""
    fresh = [(name, error) for name, info in sorted(_infos.items()) for error in info.errors]
    fresh = [item for item in fresh if item not in _reported]
    _reported.update(fresh)
    return fresh


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


def add_commands(group: Any, *, command: str | None = None) -> None:
    """Let the loaded plugins add their click commands to ``group`` (each plugin once per group); note which
    came from which plugin. ``command``: import only the plugins that declare it first; None: every plugin."""
    _load(command=command)
    added = _commands_added.setdefault(group, set())
    for name, _plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if name in added:
            continue
        added.add(name)
        before = set(group.commands)
        call_hook("register_commands", name, group)
        _infos.setdefault(name, PluginInfo(name=name)).commands = sorted(set(group.commands) - before)


def get_registries() -> Registries:
    """The registries of every plugin's ``register_*`` hooks; each kind is built when first read."""
    global _registries
    if _registries is None:
        _registries = Registries()
    return _registries


def _build(kind: str) -> Registry[Any]:
    registry: Registry[Any] = Registry(kind)
    hook = f"register_{kind}s"
    for info in _infos.values():
        info.registers.pop(kind + "s", None)
    for plugin_name, _plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        info = _infos.setdefault(plugin_name, PluginInfo(name=plugin_name))
        call_hook(hook, plugin_name, _register_callback(registry, HOOKS[hook], plugin_name, info))
    return registry


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


def reset() -> None:
    """Forget every plugin and cached registry so the next call loads afresh (for tests)."""
    global _all_loaded, _registries, _candidates, _entry_point_cache
    for name, _plugin in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    _infos.clear()
    _considered.clear()
    _commands_added.clear()
    _reported.clear()
    _all_loaded = False
    _registries = None
    _candidates = None
    _entry_point_cache = None
    _folder_versions.clear()


def declared() -> dict[str, tuple[frozenset[str] | None, frozenset[str]]]:
    """What each candidate plugin declares: ``name -> (kinds or None, commands)`` (the conformance test checks
    that it matches what the plugin registers)."""
    return {candidate.name: (candidate.kinds, candidate.commands) for candidate in _plugin_candidates()}
