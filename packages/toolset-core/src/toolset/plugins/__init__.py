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

The work is done in :mod:`toolset.plugins.manager` (the one :class:`Plugins` object of this process, calling
hooks through pluggy), :mod:`toolset.plugins.candidates` (which plugins may load and what they declare),
:mod:`toolset.plugins.entry_points` (the scan of installed distributions) and :mod:`toolset.plugins.versions` (installed
versions). This module holds that object and keeps the names plugins and tests import.
"""

from __future__ import annotations

from toolset.plugins.candidates import (
    BUILTIN_KINDS,
    BUILTIN_PLUGINS,
    COMMANDS_GROUP,
    COMPONENTS_GROUP,
    ENTRY_POINT_GROUP,
)
from toolset.plugins.manager import HOOK_NAMES, HOOKS, KINDS, PluginInfo, Plugins, Registries

PLUGINS = Plugins()
pm = PLUGINS.pm

unknown_hooks = PLUGINS.unknown_hooks
register_plugin = PLUGINS.register
unregister_plugin = PLUGINS.unregister
load_plugins = PLUGINS.load
plugin_infos = PLUGINS.plugin_infos
new_errors = PLUGINS.new_errors
call_hook = PLUGINS.call_hook
add_commands = PLUGINS.add_commands
reset = PLUGINS.reset
declared = PLUGINS.declared


def get_registries() -> Registries:
    """The registries of every plugin's ``register_*`` hooks; each kind is built when first read."""
    return PLUGINS.registries


__all__ = [
    "BUILTIN_KINDS",
    "BUILTIN_PLUGINS",
    "COMMANDS_GROUP",
    "COMPONENTS_GROUP",
    "ENTRY_POINT_GROUP",
    "HOOKS",
    "HOOK_NAMES",
    "KINDS",
    "PLUGINS",
    "PluginInfo",
    "Plugins",
    "Registries",
    "add_commands",
    "call_hook",
    "declared",
    "get_registries",
    "load_plugins",
    "new_errors",
    "plugin_infos",
    "pm",
    "register_plugin",
    "reset",
    "unknown_hooks",
    "unregister_plugin",
]
