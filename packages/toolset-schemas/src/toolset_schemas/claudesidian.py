"""The Claudesidian-MCP tool set: 47 tools from the package data, and its extra validation rules."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from toolset.components import ToolCatalog, ToolSpec
from toolset.data import Conversation, Finding, ToolCall
from toolset_schemas.session_prompt import parse_session_prompt, prompt_ids
from toolset_schemas.typescript import SESSION_ID_PATTERN, WORKSPACE_ID_PATTERN

NAME = "claudesidian"
DESCRIPTION = "Claudesidian-MCP: 47 tools operating an Obsidian vault (vault, content, memory, agents, search)"
SESSION_ID = re.compile(SESSION_ID_PATTERN)
WORKSPACE_ID = re.compile(WORKSPACE_ID_PATTERN)


DATA = Path(__file__).parent / "data" / NAME  # package data (importlib.resources costs 5 ms to import)


@functools.cache
def _text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def _data(name: str) -> Any:
    return json.loads(_text(name))


@functools.cache
def manifest() -> dict[str, Any]:
    """Counts and untyped parameters recorded by the generator."""
    return _data("manifest.json")


def _build() -> ToolCatalog:
    tools = []
    for name in manifest()["tools"]:
        schema = _data(f"{name}.json")
        tools.append(ToolSpec(name=name, description=schema["description"], parameters=schema))
    return ToolCatalog(name=NAME, tools=tools, rules=RULES)


@functools.cache
def catalog() -> ToolCatalog:
    """The tools in upstream order, each with its JSON Schema, plus :data:`RULES` (loaded once; do not mutate)."""
    return _build()


def factory(config: object = None) -> ToolCatalog:
    """The tool set's factory: a catalog of its own, so callers may change their schemas freely (parsed again
    from the cached file texts: ten times faster than a deep copy)."""
    return _build()


def _finding(code: str, message: str, field: str, severity: str = "error") -> Finding:
    return Finding(code=code, message=message, severity=severity, field=field)  # type: ignore[arg-type]


def context_first(call: ToolCall, conversation: Conversation) -> list[Finding]:
    """``context`` must be the first argument key (the server reads it before the rest)."""
    arguments = call.arguments
    if "context" not in arguments or next(iter(arguments)) == "context":
        return []
    keys = list(arguments)
    return [
        _finding(
            "context-not-first",
            f"`context` must be the first argument, found it at position {keys.index('context') + 1} after {keys[0]!r}",
            "arguments",
        )
    ]


def id_formats(call: ToolCall, conversation: Conversation) -> list[Finding]:
    """``sessionId`` / ``workspaceId`` values anywhere in the arguments follow the context's formats.

    Places whose schema already sets the pattern (``context``, declared id parameters) are left to the
    schema check, so each problem is reported once; this catches ids inside free-form objects.
    """
    found: list[tuple[tuple[str | int, ...], str, Any]] = []
    _collect_ids(call.arguments, (), found, "context" if _context_covered(call.name) else None)
    findings = []
    for path, key, value in found:
        if _has_pattern(call.name, path):
            continue
        pattern = SESSION_ID if key == "sessionId" else WORKSPACE_ID
        if isinstance(value, str) and not pattern.match(value):
            field = "arguments" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            findings.append(_finding("bad-id-format", f"{key} {value!r} does not match {pattern.pattern}", field))
    return findings


@functools.lru_cache(maxsize=4096)
def _has_pattern(tool_name: str, path: tuple[str | int, ...]) -> bool:
    tool = catalog().get(tool_name)
    return "pattern" in _schema_at(tool.parameters if tool else {}, path)


@functools.lru_cache(maxsize=256)
def _context_covered(tool_name: str) -> bool:
    """Whether the schema checks both ids of ``context`` (then the rule need not look inside it)."""
    return all(_has_pattern(tool_name, ("context", key)) for key in ("sessionId", "workspaceId"))


def _collect_ids(
    value: Any, path: tuple[str | int, ...], found: list[tuple[tuple[str | int, ...], str, Any]], skip: str | None
) -> None:
    """Append ``(path, key, value)`` for every scalar ``sessionId`` / ``workspaceId`` in ``value``, in order;
    the top-level key ``skip`` is left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == skip:
                continue
            if isinstance(item, (dict, list)):
                _collect_ids(item, (*path, key), found, None)
            elif key in ("sessionId", "workspaceId"):
                found.append(((*path, key), key, item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                _collect_ids(item, (*path, index), found, None)


def _schema_at(schema: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    """The sub-schema for ``path`` following properties, items, local ``$ref`` and ``anyOf`` ({} if unknown)."""
    root, node = schema, schema
    for part in path:
        while "$ref" in node and node["$ref"].startswith("#/$defs/"):
            node = root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {})
        if isinstance(part, int):
            node = node.get("items", {}) if isinstance(node.get("items"), dict) else {}
        else:
            options = [node, *node.get("anyOf", [])]
            node = next((o["properties"][part] for o in options if part in o.get("properties", {})), {})
    while "$ref" in node and node["$ref"].startswith("#/$defs/"):
        node = root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {})
    return node


def matches_system_prompt(call: ToolCall, conversation: Conversation) -> list[Finding]:
    """The context's sessionId and workspaceId are the ones the system prompt gives (or a listed workspace)."""
    context = call.arguments.get("context")
    if not isinstance(context, dict):
        return []
    prompt_session, prompt_workspace = prompt_ids(conversation.system)
    findings = []
    session_id = context.get("sessionId")
    if prompt_session and isinstance(session_id, str) and session_id != prompt_session:
        findings.append(
            _finding(
                "session-mismatch",
                f"sessionId {session_id!r} is not the system prompt's {prompt_session!r}",
                "arguments.context.sessionId",
            )
        )
    workspace_id = context.get("workspaceId")
    if isinstance(workspace_id, str) and not (prompt_workspace and workspace_id == prompt_workspace):
        # Not the prompt's workspace: it must be a listed one (when the prompt names any workspace).
        prompt = parse_session_prompt(conversation.system)
        allowed = prompt.allowed_workspaces
        if allowed and workspace_id not in allowed:
            findings.append(
                _finding(
                    "workspace-mismatch",
                    f"workspaceId {workspace_id!r} is neither the system prompt's workspace nor a listed one "
                    f"({', '.join(sorted(allowed))})",
                    "arguments.context.workspaceId",
                )
            )
    return findings


RULES = (context_first, id_formats, matches_system_prompt)
