"""Lookup by name for each kind of component, with helpful errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from toolset.components import Component
from toolset.errors import DuplicateComponentError, UnknownComponentError, closest

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
}


def install_command(extra: str) -> str:
    return f'pip install "toolset-core[{extra}]"' if extra else "pip install --upgrade toolset-core"


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
        provider = KNOWN_PROVIDERS.get((self.kind, name))
        if provider is not None:
            distribution, extra = provider
            lines.append(
                f"It is provided by {distribution}, which is not installed or did not load "
                f"(see `toolset plugins`). Install it with: {install_command(extra)}"
            )
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
