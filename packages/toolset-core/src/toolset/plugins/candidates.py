"""Which plugins may load: the built-ins, then the ``toolset`` entry points, minus those the environment filters
out, each with the component kinds and commands its distribution declares."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from toolset.plugins.entry_points import INSTALLED

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

Declarations = dict[tuple[str | None, str], tuple[frozenset[str], frozenset[str]]]


class Candidate:
    """A plugin that may be imported: its entry point (or built-in module) and what it declares.

    ``kinds`` is None for a plugin that declares nothing: it loads whenever any plugin does. ``target`` is the
    module named in import errors.
    """

    __slots__ = ("builtin", "commands", "distribution", "kinds", "load", "name", "target")

    def __init__(
        self,
        *,
        name: str,
        target: str,
        load: Callable[[], object],
        distribution: str | None,
        kinds: frozenset[str] | None = None,
        commands: frozenset[str] = frozenset(),
        builtin: bool = False,
    ) -> None:
        self.name, self.target, self.load, self.distribution = name, target, load, distribution
        self.kinds, self.commands, self.builtin = kinds, commands, builtin

    def wanted(self, kind: str | None, command: str | None) -> bool:
        """Whether loading for ``kind`` or ``command`` (neither: everything) needs this plugin."""
        if self.kinds is None or (kind is None and command is None):
            return True
        return kind in self.kinds or command in self.commands


def names_from_env(variable: str) -> set[str] | None:
    """The comma list in environment variable ``variable``; None when it is unset."""
    value = os.environ.get(variable)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def plugin_entry_points() -> Iterator[Any]:
    """The entry points of group ``toolset``, each name once (a distribution can appear twice on the path)."""
    seen: set[str] = set()
    for entry_point in INSTALLED.entry_points().select(group=ENTRY_POINT_GROUP):
        if entry_point.name not in seen:
            seen.add(entry_point.name)
            yield entry_point


def declarations() -> Declarations:
    """``(distribution, plugin module) -> (kinds, commands)`` from the groups ``toolset.components`` and
    ``toolset.commands``."""
    everything = INSTALLED.entry_points()
    declared: dict[tuple[str | None, str], tuple[set[str], set[str]]] = {}
    for group, index in ((COMPONENTS_GROUP, 0), (COMMANDS_GROUP, 1)):
        for entry_point in everything.select(group=group):
            key = (entry_point.dist.name if entry_point.dist else None, entry_point.value)
            name = entry_point.name.removesuffix("s") if index == 0 else entry_point.name
            declared.setdefault(key, (set(), set()))[index].add(name)
    return {key: (frozenset(kinds), frozenset(commands)) for key, (kinds, commands) in declared.items()}


def find_candidates() -> list[Candidate]:
    """Built-ins, then entry points, honouring ``TOOLSET_DISABLE_PLUGINS`` and ``TOOLSET_LOAD_PLUGINS``."""
    blocked = names_from_env("TOOLSET_DISABLE_PLUGINS") or set()
    allowed = names_from_env("TOOLSET_LOAD_PLUGINS")
    found = [
        Candidate(
            name=module_name,
            target=module_name,
            load=lambda module_name=module_name: importlib.import_module(module_name),
            distribution="toolset-core",
            kinds=BUILTIN_KINDS.get(module_name),
            builtin=True,
        )
        for module_name in BUILTIN_PLUGINS
        if module_name not in blocked and module_name.rsplit(".", 1)[-1] not in blocked
    ]
    entry_points = list(plugin_entry_points())
    declared = declarations() if entry_points else {}
    for entry_point in entry_points:
        distribution = entry_point.dist.name if entry_point.dist else None
        names = {entry_point.name, distribution}
        if names & blocked or (allowed is not None and not names & allowed):
            continue
        kinds, commands = declared.get((distribution, entry_point.value), (None, frozenset()))
        found.append(
            Candidate(
                name=entry_point.name,
                target=entry_point.value,
                load=entry_point.load,
                distribution=distribution,
                kinds=kinds,
                commands=commands,
            )
        )
    return found


def left_out() -> list[tuple[str, str | None, str, frozenset[str]]]:
    """``(plugin, distribution, variable, commands)`` for each installed plugin the environment filters out, and
    which variable does it: for a message that says why a command is missing."""
    blocked = names_from_env("TOOLSET_DISABLE_PLUGINS") or set()
    allowed = names_from_env("TOOLSET_LOAD_PLUGINS")
    out = []
    declared = declarations()
    for entry_point in plugin_entry_points():
        distribution = entry_point.dist.name if entry_point.dist else None
        names = {entry_point.name, distribution}
        variable = (
            "TOOLSET_DISABLE_PLUGINS"
            if names & blocked
            else ("TOOLSET_LOAD_PLUGINS" if allowed is not None and not names & allowed else None)
        )
        if variable:
            commands = declared.get((distribution, entry_point.value), (frozenset(), frozenset()))[1]
            out.append((entry_point.name, distribution, variable, commands))
    return out


def unknown_filter_names() -> dict[str, set[str]]:
    """Names in ``TOOLSET_LOAD_PLUGINS`` / ``TOOLSET_DISABLE_PLUGINS`` that match no plugin (a typo filters
    everything out, or nothing), by variable."""
    known = {name for module in BUILTIN_PLUGINS for name in (module, module.rsplit(".", 1)[-1])}
    for entry_point in plugin_entry_points():
        known |= {entry_point.name, entry_point.dist.name if entry_point.dist else entry_point.name}
    unknown = {}
    for variable in ("TOOLSET_LOAD_PLUGINS", "TOOLSET_DISABLE_PLUGINS"):
        names = (names_from_env(variable) or set()) - known
        if names:
            unknown[variable] = names
    return unknown
