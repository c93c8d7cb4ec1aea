"""Errors the CLI reports as a clear message instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterable


class ToolsetError(Exception):
    """A problem caused by the user's input or environment, shown without a traceback."""


class ConfigError(ToolsetError):
    """The run configuration is invalid; the message names file, key path, value and expected type."""


class UnknownComponentError(ToolsetError, LookupError):
    """A tool set, formatter, trainer, exporter or backend name that no loaded plugin registers."""


class DuplicateComponentError(ToolsetError):
    """Two plugins registered the same name for the same kind of component."""


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option most like ``word`` (case-insensitive), for did-you-mean hints."""
    import difflib  # only when a hint is needed: 1 ms of start-up otherwise

    by_lower = {option.lower(): option for option in options}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return by_lower[match[0]] if match else None
