"""Lookup by name for each kind of component, with helpful errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Generic, TypeVar

from toolset.components import Component
from toolset.errors import DuplicateComponentError, UnknownComponentError, closest
from toolset.plugins.versions import installed_version

C = TypeVar("C", bound=Component)

# Components the project's own distributions provide, so a missing one names its install command.
KNOWN_PROVIDERS: dict[tuple[str, str], tuple[str, str]] = {
    ("toolset", "claudesidian"): ("toolset-schemas", "schemas"),
    ("formatter", "sft"): ("toolset-core", ""),
    ("formatter", "kto"): ("toolset-core", ""),
    ("trainer", "sft"): ("toolset-cuda", "cuda"),
    ("trainer", "kto"): ("toolset-cuda", "cuda"),
    ("trainer", "mlx-lora"): ("toolset-mlx", "mlx"),
    ("exporter", "gguf"): ("toolset-core", "gguf"),
    ("backend", "ollama"): ("toolset-eval", "eval"),
    ("backend", "lmstudio"): ("toolset-eval", "eval"),
    ("backend", "openai"): ("toolset-eval", "eval"),
    ("backend", "llamacpp"): ("toolset-eval", "eval"),
    ("backend", "transformers"): ("toolset-eval", "eval"),
    ("evaluator", "schema-exact"): ("toolset-eval", "eval"),
    ("validator", "schema"): ("toolset-schemas", "schemas"),
}


def install_command(extra: str) -> str:
    return f'pip install "toolset-core[{extra}]"' if extra else "pip install --upgrade toolset-core"


def provider_hint(kind: str, name: str) -> str | None:
    """Where a known component comes from and how to get it, or None for names we don't ship."""
    provider = KNOWN_PROVIDERS.get((kind, name))
    if provider is None:
        return None
    distribution, extra = provider
    installed = installed_version(distribution)
    if installed is None:
        return f"It is provided by {distribution}, which is not installed. Install it with: {install_command(extra)}"
    if extra and distribution == "toolset-core":
        return f"It needs toolset-core's optional dependencies: {install_command(extra)}"
    blocked = {n.strip() for n in os.environ.get("TOOLSET_DISABLE_PLUGINS", "").split(",")}
    allowed = os.environ.get("TOOLSET_LOAD_PLUGINS")
    if distribution in blocked or (allowed is not None and distribution not in {n.strip() for n in allowed.split(",")}):
        return (
            f"{distribution} {installed} is installed but not loaded (TOOLSET_LOAD_PLUGINS / TOOLSET_DISABLE_PLUGINS)"
        )
    return (
        f"{distribution} {installed} is installed but did not register it "
        f"(a newer version may provide it; `toolset plugins` shows load errors)"
    )


class Registry(Generic[C]):
    """Components of one kind, keyed by name, remembering which plugin registered each."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, C] = {}

    def add(self, component: C) -> None:
        existing = self._items.get(component.name)
        if existing is not None:
            raise DuplicateComponentError(
                f"{self.kind} {component.name!r} is registered twice: by plugin {existing.plugin!r} "
                f"and by plugin {component.plugin!r}"
            )
        self._items[component.name] = component

    def get(self, name: str) -> C:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownComponentError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        lines = [f"unknown {self.kind} {name!r}."]
        hint = provider_hint(self.kind, name)
        if hint:
            lines.append(hint + ".")
        close = closest(name, self._items)
        if close:
            lines.append(f"Did you mean {close!r}?")
        available = ", ".join(sorted(self._items)) or "none"
        lines.append(f"Available {self.kind}s: {available}.")
        return " ".join(lines)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[C]:
        return iter(sorted(self._items.values(), key=lambda c: c.name))

    def __len__(self) -> int:
        return len(self._items)
