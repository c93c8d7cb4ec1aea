"""toolset: turn a tool-calling dataset into a small local model that calls an MCP tool set reliably.

``import toolset`` stays light (no torch, transformers, trl, mlx or llama_cpp): heavy libraries are
imported by the plugins that need them, when they run.

Sub-packages: ``toolset.plugins`` (plugin loading), ``toolset.data`` (the data model; reading, writing,
formatting and preparing training data), ``toolset.runs`` (run folders, the pipeline and quickstart),
``toolset.weights`` (models, chat templates, GGUF export), ``toolset.publish`` (Hub, Ollama, LM Studio) and
``toolset.cli``; ``hookspecs``, ``components``, ``config``, ``errors`` and ``testing`` stay at the top.
"""

from __future__ import annotations

from toolset import _moved
from toolset.components import (
    Availability,
    Backend,
    BackendClient,
    ChatResponse,
    Component,
    Evaluator,
    Exporter,
    Formatter,
    ToolCatalog,
    Toolset,
    ToolSpec,
    Trainer,
    ValidationReport,
    Validator,
)
from toolset.errors import ConfigError, ToolsetError, UnknownComponentError
from toolset.hookspecs import hookimpl

_moved.install()  # old module paths (toolset.pipeline, toolset.gguf_export...) still import


def __getattr__(name: str) -> str:
    """``__version__``, read on first use by :func:`toolset.plugins.versions.installed_version`."""
    if name != "__version__":
        raise AttributeError(f"module 'toolset' has no attribute {name!r}")
    from toolset.plugins.versions import installed_version

    value = installed_version("toolset-core") or "0.0.0"  # 0.0.0: a source tree that was never installed
    globals()["__version__"] = value
    return value


__all__ = [
    "Availability",
    "Backend",
    "BackendClient",
    "ChatResponse",
    "Component",
    "ConfigError",
    "Evaluator",
    "Exporter",
    "Formatter",
    "ToolCatalog",
    "ToolSpec",
    "Toolset",
    "ToolsetError",
    "Trainer",
    "UnknownComponentError",
    "ValidationReport",
    "Validator",
    "__version__",
    "evaluate",
    "get_backend",
    "get_evaluator",
    "get_exporter",
    "get_formatter",
    "get_registries",
    "get_toolset",
    "get_trainer",
    "get_validator",
    "hookimpl",
    "load_config",
    "validate",
]


def get_registries():
    """Every component registered by the loaded plugins (see :mod:`toolset.plugins`)."""
    from toolset.plugins import get_registries

    return get_registries()


def get_toolset(name: str) -> Toolset:
    return get_registries().toolsets.get(name)


def get_formatter(name: str) -> Formatter:
    return get_registries().formatters.get(name)


def get_trainer(name: str) -> Trainer:
    return get_registries().trainers.get(name)


def get_exporter(name: str) -> Exporter:
    return get_registries().exporters.get(name)


def get_backend(name: str) -> Backend:
    return get_registries().backends.get(name)


def get_evaluator(name: str) -> Evaluator:
    return get_registries().evaluators.get(name)


def get_validator(name: str) -> Validator:
    return get_registries().validators.get(name)


def evaluate(model, prompt_set, config=None, **options):
    """Evaluate ``model`` (a GGUF file, or a served model's name) on ``prompt_set``; returns the summary.
    See :func:`toolset.runs.steps.evaluate` (``evaluator=``, ``output=``...)."""
    from toolset.runs.steps import evaluate

    return evaluate(model, prompt_set, config, **options)


def validate(files, toolset="claudesidian", config=None, **options):
    """Check the tool calls in ``files`` against a tool set; returns the report (``has_errors``, ``to_json()``)."""
    from toolset.runs.steps import validate

    return validate(files, toolset, config, **options)


def load_config(path=None, *, preset=None, overrides=()):
    """Load a run config: defaults, then preset, file and ``a.b=value`` overrides."""
    from toolset.config import load_config

    return load_config(path, preset=preset, overrides=overrides)
