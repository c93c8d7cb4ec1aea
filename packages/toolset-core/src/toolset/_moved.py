"""Old import paths of modules that moved into sub-packages keep working (third-party plugins, scripts).

``import toolset.gguf_export`` gives the very module ``toolset.weights.gguf_export`` (one object, so patching
either name patches both); nothing is imported until an old name is used.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

MOVED = {
    "toolset.chat_templates": "toolset.weights.chat_templates",
    "toolset.cli_options": "toolset.cli.options",
    "toolset.doctor": "toolset.cli.diagnosis",
    "toolset.entry_points": "toolset.plugins.entry_points",
    "toolset.formatters": "toolset.data.formatters",
    "toolset.gguf_export": "toolset.weights.gguf_export",
    "toolset.gguf_gpt_oss": "toolset.weights.gguf_gpt_oss",
    "toolset.gguf_vocab": "toolset.weights.gguf_vocab",
    "toolset.hub": "toolset.publish.hub",
    "toolset.launch": "toolset.runs.launch",
    "toolset.local_apps": "toolset.publish.local_apps",
    "toolset.models": "toolset.weights.models",
    "toolset.pipeline": "toolset.runs.pipeline",
    "toolset.plugin_candidates": "toolset.plugins.candidates",
    "toolset.plugin_manager": "toolset.plugins.manager",
    "toolset.prepare": "toolset.data.prepare",
    "toolset.quickstart": "toolset.runs.quickstart",
    "toolset.readers": "toolset.data.readers",
    "toolset.registry": "toolset.plugins.registry",
    "toolset.safetensors_io": "toolset.weights.safetensors_io",
    "toolset.steps": "toolset.runs.steps",
    "toolset.storage": "toolset.runs.storage",
    "toolset.verify": "toolset.weights.verify",
    "toolset.versions": "toolset.plugins.versions",
    "toolset.writers": "toolset.data.writers",
}


class _Alias:
    """A loader (duck-typed: importlib.abc costs a fifth of ``import toolset``) handing over the moved module."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import system set the alias's spec; the module keeps its own


class MovedModules:
    """A meta path finder: an old name in :data:`MOVED` gets the module at its new place."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return ModuleSpec(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
