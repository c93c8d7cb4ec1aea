"""An example toolset plugin: the ``notes`` tool set and the offline ``keyword`` backend."""

from __future__ import annotations

import re
from typing import Any

import attrs

from toolset import Backend, ChatResponse, ToolCatalog, Toolset, ToolSpec, hookimpl

NOTES_TOOLS = (
    ToolSpec(
        "create_note",
        "Create a new note with a title and a body",
        {
            "type": "object",
            "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
            "required": ["title", "body"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        "search_notes",
        "Search notes for a query and return matching titles",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1},
                "sort": {"type": "string", "enum": ["relevance", "newest", "oldest"]},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        "delete_note",
        "Delete the note with the given title",
        {
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
            "additionalProperties": False,
        },
    ),
)


def notes_catalog(_config: None) -> ToolCatalog:
    return ToolCatalog("notes", NOTES_TOOLS)


@attrs.define(kw_only=True)
class KeywordConfig:
    """``min_score``: words a tool must share with the question before it is called."""

    min_score: int = 1


def _words(text: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ")
    return {word.rstrip("s") for word in re.findall(r"[a-z]+", spaced.lower()) if len(word) > 2}


class KeywordClient:
    """Routes a question to the tool with the most words in common; fills arguments from the question."""

    def __init__(self, config: KeywordConfig) -> None:
        self.config = config

    def chat(self, messages, tools=None, **options: Any) -> ChatResponse:
        question = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        functions = [tool["function"] for tool in tools or []]
        scored = sorted(
            ((len(_words(question) & _words(f["name"] + " " + f.get("description", ""))), f) for f in functions),
            key=lambda pair: -pair[0],
        )
        if not scored or scored[0][0] < self.config.min_score:
            return ChatResponse(content="No tool fits this question.", model="keyword")
        function = scored[0][1]
        call = {"name": function["name"], "arguments": self._arguments(question, function.get("parameters", {}))}
        return ChatResponse(content=None, tool_calls=[call], model="keyword", raw={"score": scored[0][0]})

    @staticmethod
    def _arguments(question: str, schema: dict[str, Any]) -> dict[str, Any]:
        quoted = re.findall(r"'([^']+)'|\"([^\"]+)\"", question)
        texts = [single or double for single, double in quoted]
        numbers = [int(n) for n in re.findall(r"\b\d+\b", question)]
        arguments: dict[str, Any] = {}
        for name in schema.get("required", []):
            spec = schema.get("properties", {}).get(name, {})
            if "enum" in spec:
                arguments[name] = next((v for v in spec["enum"] if str(v) in question), spec["enum"][0])
            elif spec.get("type") == "integer":
                arguments[name] = numbers.pop(0) if numbers else 1
            elif spec.get("type") == "boolean":
                arguments[name] = False
            else:
                arguments[name] = texts.pop(0) if texts else question
        return arguments

    def list_models(self) -> list[str]:
        return ["keyword"]


@hookimpl
def register_toolsets(register):
    register(Toolset("notes", "A small note-taking tool set (example plugin)", None, notes_catalog))


@hookimpl
def register_backends(register):
    register(
        Backend("keyword", "Offline keyword router, no model needed (example plugin)", KeywordConfig, KeywordClient)
    )
