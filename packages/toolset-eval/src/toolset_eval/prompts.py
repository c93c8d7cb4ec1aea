"""Prompt sets: JSON lists of evaluation cases, loaded from a file or by the name of a shipped set.

A case: ``id``, ``question``, ``tags``, ``system``, ``expected_tools`` (absent or empty: no call expected),
``expected_args`` (optional, ``{tool: {argument: value}}``), ``expected_context`` (``session_id``,
``workspace_id``, ``workspace_ids``, ``agent_ids``), and optionally ``behavior_expectations``,
``anti_patterns_to_avoid``, ``expected_response_type``, ``notes``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from toolset.components import as_tuple
from toolset.errors import ToolsetError

SHIPPED_PACKAGE = "toolset_eval.prompt_sets"
_KNOWN_KEYS = {
    "id",
    "question",
    "tags",
    "system",
    "expected_tools",
    "expected_args",
    "expected_context",
    "behavior_expectations",
    "anti_patterns_to_avoid",
    "expected_response_type",
    "notes",
}


class PromptSetError(ToolsetError):
    """A prompt set file is missing or malformed."""


@attrs.frozen
class ExpectedContext:
    session_id: str | None = None
    workspace_id: str | None = None
    workspace_ids: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    agent_ids: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)

    @property
    def allowed_workspaces(self) -> set[str]:
        return set(self.workspace_ids) | ({self.workspace_id} if self.workspace_id else set())


@attrs.frozen
class PromptCase:
    id: str
    question: str
    system: str | None = None
    tags: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    expected_tools: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    expected_args: dict[str, dict[str, Any]] = attrs.Factory(dict)
    expected_context: ExpectedContext | None = None
    behavior_expectations: dict[str, Any] = attrs.Factory(dict)
    anti_patterns_to_avoid: dict[str, Any] = attrs.Factory(dict)
    expected_response_type: str | None = None
    notes: str | None = None

    @property
    def agents(self) -> list[str]:
        """The agents (``agent_mode`` prefixes) of the expected tools; ``none`` for no-call cases."""
        return sorted({tool.split("_", 1)[0] for tool in self.expected_tools}) or ["none"]

    def messages(self) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": self.question}]


@attrs.frozen
class PromptSet:
    name: str
    source: str
    cases: tuple[PromptCase, ...] = attrs.field(converter=as_tuple)


def _fail(source: str, where: str, message: str) -> PromptSetError:
    return PromptSetError(f"{source}: {where}: {message}")


def _strings(value: Any, source: str, where: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(source, where, f"field {field!r} must be a list of strings")
    return tuple(value)


def _mapping(value: Any, source: str, where: str, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(source, where, f"field {field!r} must be an object")
    return dict(value)


def _optional_string(value: Any, source: str, where: str, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _fail(source, where, f"field {field!r} must be a string")
    return value


def parse_case(raw: Any, index: int, source: str) -> PromptCase:
    """One case; errors name the file, the case index (and id when known) and the field."""
    where = f"case {index}"
    if not isinstance(raw, dict):
        raise _fail(source, where, f"a case must be an object, found {type(raw).__name__}")
    if isinstance(raw.get("id"), str) and raw["id"]:
        where = f"case {index} ({raw['id']})"
    for field in ("id", "question"):
        if not isinstance(raw.get(field), str) or not raw[field].strip():
            raise _fail(source, where, f"field {field!r} is required and must be a non-empty string")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise _fail(source, where, f"unknown field(s) {', '.join(map(repr, unknown))}")
    expected_args = _mapping(raw.get("expected_args"), source, where, "expected_args")
    for tool, arguments in expected_args.items():
        if not isinstance(arguments, dict):
            raise _fail(source, where, f"field 'expected_args.{tool}' must be an object of argument values")
    context = None
    if raw.get("expected_context") is not None:
        ctx = _mapping(raw["expected_context"], source, where, "expected_context")
        context = ExpectedContext(
            session_id=_optional_string(ctx.get("session_id"), source, where, "expected_context.session_id"),
            workspace_id=_optional_string(ctx.get("workspace_id"), source, where, "expected_context.workspace_id"),
            workspace_ids=_strings(ctx.get("workspace_ids"), source, where, "expected_context.workspace_ids"),
            agent_ids=_strings(ctx.get("agent_ids"), source, where, "expected_context.agent_ids"),
        )
    return PromptCase(
        id=raw["id"],
        question=raw["question"],
        system=_optional_string(raw.get("system"), source, where, "system"),
        tags=_strings(raw.get("tags"), source, where, "tags"),
        expected_tools=_strings(raw.get("expected_tools"), source, where, "expected_tools"),
        expected_args=expected_args,
        expected_context=context,
        behavior_expectations=_mapping(raw.get("behavior_expectations"), source, where, "behavior_expectations"),
        anti_patterns_to_avoid=_mapping(raw.get("anti_patterns_to_avoid"), source, where, "anti_patterns_to_avoid"),
        expected_response_type=_optional_string(
            raw.get("expected_response_type"), source, where, "expected_response_type"
        ),
        notes=_optional_string(raw.get("notes"), source, where, "notes"),
    )


def parse_prompt_set(data: Any, source: str, name: str | None = None) -> PromptSet:
    if not isinstance(data, list):
        raise PromptSetError(f"{source}: a prompt set must be a JSON list of cases, found {type(data).__name__}")
    cases = [parse_case(raw, index, source) for index, raw in enumerate(data)]
    seen: dict[str, int] = {}
    for index, case in enumerate(cases):
        if case.id in seen:
            raise _fail(source, f"case {index} ({case.id})", f"duplicate id (first at case {seen[case.id]})")
        seen[case.id] = index
    return PromptSet(name=name or Path(source).stem, source=source, cases=cases)


def shipped_prompt_sets() -> dict[str, Path]:
    """Name -> file of the prompt sets shipped with toolset-eval."""
    folder = resources.files(SHIPPED_PACKAGE)
    return {
        entry.name.removesuffix(".json"): Path(str(entry))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }


def load_prompt_set(name_or_path: str | Path) -> PromptSet:
    """A shipped set by name, else a JSON file."""
    shipped = shipped_prompt_sets()
    if isinstance(name_or_path, str) and name_or_path in shipped:
        path, name = shipped[name_or_path], name_or_path
    else:
        path, name = Path(name_or_path), None
        if not path.is_file():
            known = ", ".join(shipped) or "none"
            raise PromptSetError(f"prompt set {str(name_or_path)!r}: no such file or shipped set (shipped: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PromptSetError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptSetError(f"{path}: cannot read ({exc})") from None
    return parse_prompt_set(data, str(path), name)
