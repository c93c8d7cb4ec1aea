"""The data model: conversations with tool calls, as attrs classes with cattrs (un)structuring.

``ToolCall.arguments`` is a plain ``dict`` and keeps the key order it was read with (Claudesidian
requires ``context`` to be the first argument). ``Finding`` is what readers, validators and rules
report: a stable code, a severity, a message and where (file, line, field).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import attrs

Role = Literal["system", "user", "assistant", "tool"]
Severity = Literal["error", "warning", "info"]


@attrs.define(kw_only=True)
class ToolCall:
    """One call of a tool. ``arguments`` keeps key order; ``raw_arguments`` holds unparseable text."""

    name: str
    arguments: dict[str, Any] = attrs.Factory(dict)
    id: str | None = None
    raw_arguments: str | None = None


@attrs.define(kw_only=True)
class Message:
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = attrs.Factory(list)
    tool_call_id: str | None = None
    name: str | None = None


@attrs.define(kw_only=True)
class Conversation:
    """Messages, the tools offered (OpenAI function definitions), an optional KTO label and metadata.

    ``metadata`` carries at least ``source`` (file) and ``line`` when read from a file.
    """

    messages: list[Message] = attrs.Factory(list)
    tools: list[dict[str, Any]] = attrs.Factory(list)
    label: bool | None = None
    metadata: dict[str, Any] = attrs.Factory(dict)

    @property
    def system(self) -> str | None:
        for message in self.messages:  # the first non-empty system message
            if message.role == "system" and message.content:
                return message.content
        return None

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [call for message in self.messages if message.role == "assistant" for call in message.tool_calls]

    @property
    def source(self) -> str | None:
        return self.metadata.get("source")

    @property
    def line(self) -> int | None:
        return self.metadata.get("line")


@attrs.define(kw_only=True)
class Finding:
    """A problem found in the data: ``code`` is stable (documented), ``field`` is a dotted path."""

    code: str
    message: str
    severity: Severity = "error"
    source: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ":".join(str(part) for part in (self.source, self.line, self.column) if part is not None)
        field = f" [{self.field}]" if self.field else ""
        return f"{where + ': ' if where else ''}{self.severity} {self.code}{field}: {self.message}"


@functools.cache
def converter() -> Any:
    """The cattrs converter of the data model (built on first use: cattrs is slow to import)."""
    import cattrs

    return cattrs.Converter(omit_if_default=True)


def to_dict(obj: Any) -> Any:
    """Unstructure a data-model object into plain JSON-ready data (defaults left out)."""
    return converter().unstructure(obj)


def from_dict(data: Any, cls: type) -> Any:
    return converter().structure(data, cls)
