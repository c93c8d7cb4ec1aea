"""Chat messages and tool calls in each wire format: OpenAI's (arguments as a JSON string) and Ollama's (object).

Messages may be plain mappings or :class:`toolset.data.Message` objects. A tool call may be flat
(``{"name", "arguments"}``, as in toolset's data model) or OpenAI-shaped (``{"function": {...}}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from toolset_eval.errors import BackendError


def plain_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Each message as a plain dict (attrs data-model objects are unstructured)."""
    from toolset.data import to_dict

    plain = []
    for index, message in enumerate(messages):
        if attrs.has(type(message)):
            message = to_dict(message)
        if not isinstance(message, Mapping) or "role" not in message:
            raise BackendError(f"message {index} is not a chat message with a role: {message!r:.120}")
        plain.append(dict(message))
    return plain


def call_parts(call: Mapping[str, Any]) -> tuple[str, Any, str | None]:
    """(name, arguments, id) of a flat or OpenAI-shaped tool call; arguments as found (dict or string)."""
    function = call.get("function")
    source = function if isinstance(function, Mapping) else call
    return source.get("name", ""), source.get("arguments", {}), call.get("id")


def decode_arguments(arguments: Any) -> Any:
    """Arguments as a dict when they are (or encode) a JSON object; otherwise unchanged, for the parser to judge."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except (ValueError, RecursionError):
            return arguments
        return decoded if isinstance(decoded, dict) else arguments
    return arguments


def to_openai_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    converted = []
    for message in plain_messages(messages):
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                name, arguments, call_id = call_parts(call)
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments, ensure_ascii=False)
                entry: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
                if call_id is not None:
                    entry = {"id": call_id, **entry}
                calls.append(entry)
            message["tool_calls"] = calls
            if message.get("content") is None:  # strict servers (llama-cpp-python) refuse null content
                message["content"] = ""
        converted.append(message)
    return converted


def to_ollama_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    converted = []
    for message in plain_messages(messages):
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                name, arguments, _call_id = call_parts(call)
                calls.append({"function": {"name": name, "arguments": decode_arguments(arguments)}})
            message["tool_calls"] = calls
        if message.get("role") == "tool" and "name" in message:
            message["tool_name"] = message.pop("name")
        converted.append(message)
    return converted


def tool_calls_from_wire(raw_calls: Any) -> list[dict[str, Any]]:
    """A reply's native tool calls as ``{"name", "arguments"[, "id"]}``; arguments decoded when they are JSON."""
    if not isinstance(raw_calls, list):
        return []
    calls = []
    for raw in raw_calls:
        if not isinstance(raw, Mapping):
            continue
        name, arguments, call_id = call_parts(raw)
        call: dict[str, Any] = {"name": name, "arguments": decode_arguments(arguments)}
        if call_id is not None:
            call["id"] = call_id
        calls.append(call)
    return calls
