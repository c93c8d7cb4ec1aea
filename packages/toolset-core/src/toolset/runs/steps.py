"""The pipeline's steps as Python calls through the registered components (no command line in between):
``validate(files, toolset)`` and ``evaluate(model, prompt_set, config)``, plus the lookup they share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from toolset.components import Component, ValidationReport
from toolset.errors import ToolsetError
from toolset.plugins.registry import KNOWN_PROVIDERS, install_command


def usable(kind: str, name: str, what: str) -> Any:
    """The registered ``kind`` component ``name``, checked usable here; ``what`` says where the name came from
    (each message starts with it)."""
    from toolset.plugins import get_registries

    registry = get_registries().for_kind(kind)
    if name not in registry:
        raise ToolsetError(f"{what}: {registry.unknown_message(name)}")
    component: Component = registry.get(name)
    availability = component.availability()
    if not availability.usable:
        provider = KNOWN_PROVIDERS.get((kind, name))
        hint = f" (install: {install_command(provider[1])})" if provider else ""
        raise ToolsetError(f"{what}: {kind} {name!r} cannot run here: {availability.detail}{hint}")
    return component


def validate(
    files: Iterable[str | Path], toolset: str = "claudesidian", config: Any = None, *, validator: str = "schema"
) -> ValidationReport:
    """Check the tool calls in ``files`` against a registered tool set with a registered validator."""
    component = usable("validator", validator, "validate")
    return component.factory([Path(f) for f in files], toolset, config or component.default_config())


def evaluate(
    model: str | Path,
    prompt_set: str,
    config: Any = None,
    *,
    evaluator: str = "schema-exact",
    output: Path | None = None,
    resume: bool = False,
    tools_trained: str | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Ask ``model`` (a GGUF file, or a served model's name) every case of ``prompt_set`` with a registered
    evaluator and return the scored summary; reports are written to ``output``. ``config``: the evaluator's
    settings (a run config's ``eval`` section for ``schema-exact``)."""
    from toolset.runs.pipeline import accepted_options

    component = usable("evaluator", evaluator, "evaluate")
    options = {"output": output, "resume": resume, "tools_trained": tools_trained, "echo": echo}
    options = accepted_options(component.factory, options)
    return component.factory(model, prompt_set, config or component.default_config(), **options)
