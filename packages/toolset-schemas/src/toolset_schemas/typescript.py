"""TypeScript parameter types (as written in Claudesidian's sources) turned into JSON Schema fragments."""

from __future__ import annotations

import re
from typing import Any

SESSION_ID_PATTERN = r"^session_[0-9]{13}_[a-z0-9]{9}$"
WORKSPACE_ID_PATTERN = r"^(ws_[0-9]{13}_[a-z0-9]{9}|default)$"

CONTEXT_FIELDS: dict[str, str] = {
    "sessionId": "Session id given in the system prompt (session_<13 digits>_<9 lower-case letters or digits>).",
    "workspaceId": "Workspace id from the system prompt or its available workspaces (ws_<13 digits>_<9>), or default.",
    "sessionDescription": "A few words on what this session is about.",
    "sessionMemory": "What happened so far in the session, as a short summary.",
    "toolContext": "Why this tool is called now.",
    "primaryGoal": "The user's overall goal.",
    "subgoal": "What this call achieves towards the goal.",
}


def context_schema() -> dict[str, Any]:
    """The shared ``context`` object every Claudesidian tool takes: seven required strings."""
    properties: dict[str, Any] = {
        name: {"type": "string", "description": text} for name, text in CONTEXT_FIELDS.items()
    }
    properties["sessionId"]["pattern"] = SESSION_ID_PATTERN
    properties["workspaceId"]["pattern"] = WORKSPACE_ID_PATTERN
    properties["sessionMemory"]["minLength"] = 1
    return {
        "type": "object",
        "description": "Session context the MCP server needs on every call.",
        "properties": properties,
        "required": list(CONTEXT_FIELDS),
        "additionalProperties": False,
    }


# Interfaces named in parameter types, typed by what the tool set's sources and data show of them. Only fields
# known for sure are typed; the objects stay open because the interfaces carry more optional fields.
INTERFACES: dict[str, dict[str, Any]] = {
    "ContentOperation": {
        "type": "object",
        "description": "One content operation of a batch (e.g. create, append, replace) with its file path.",
    },
    "UniversalSearchParams": {
        "type": "object",
        "description": "One search of a batch.",
        "properties": {"query": {"type": "string"}, "limit": {"type": "number"}},
        "required": ["query"],
    },
    "MemoryType": {"type": "string", "description": "A kind of memory item to search."},
    "SessionFilterOptions": {"type": "object", "description": "Which sessions to search."},
    "TemporalFilterOptions": {"type": "object", "description": "Time-based filtering of memory results."},
    "DateRange": {
        "type": "object",
        "description": "A date range with start and end dates.",
        "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
    },
    "AspectRatio": {"type": "string", "pattern": r"^[0-9]+:[0-9]+$", "description": "Image aspect ratio, e.g. 16:9."},
    "WorkspaceContext": {
        "type": "object",
        "description": "The workspace a session belongs to.",
        "properties": {"workspaceId": {"type": "string", "pattern": WORKSPACE_ID_PATTERN}},
    },
}
# Parameters holding the same ids as the context object get the same formats.
ID_PATTERNS: dict[str, str] = {"sessionId": SESSION_ID_PATTERN, "workspaceId": WORKSPACE_ID_PATTERN}

PRIMITIVES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "Record<string, any>": {"type": "object"},
    "Record<string, unknown>": {"type": "object"},
    "null": {"type": "null"},
}

UNTYPED = ("any", "unknown")
_LITERAL = re.compile(r"""^(?:'([^']*)'|"([^"]*)")$""")


class Untyped(Exception):
    """Raised for a type that cannot be expressed; the caller allows anything and counts it."""


def _split_union(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "<([{"
        depth -= char in ">)]}"
        if char == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [part for part in parts if part]


def to_schema(type_text: str) -> dict[str, Any]:
    """JSON Schema for a TypeScript type string; raises :class:`Untyped` for ``any``-like types."""
    text = type_text.strip()
    parts = _split_union(text)
    if len(parts) > 1:
        literals = [_LITERAL.match(part) for part in parts]
        if all(literals):
            return {"type": "string", "enum": [m.group(1) if m.group(1) is not None else m.group(2) for m in literals]}
        options = [to_schema(part) for part in parts]
        if all(list(option) == ["type"] and isinstance(option["type"], str) for option in options):
            return {"type": [option["type"] for option in options]}  # e.g. string | number
        return {"anyOf": options}
    literal = _LITERAL.match(text)
    if literal:
        return {"type": "string", "enum": [literal.group(1) if literal.group(1) is not None else literal.group(2)]}
    if text.endswith("[]"):
        return {"type": "array", "items": to_schema(text[:-2])}
    if text.startswith("Array<") and text.endswith(">"):
        return {"type": "array", "items": to_schema(text[6:-1])}
    if text in PRIMITIVES:
        return dict(PRIMITIVES[text])
    if text in INTERFACES:
        return dict(INTERFACES[text])
    if text in UNTYPED:
        raise Untyped(text)
    raise Untyped(text)
