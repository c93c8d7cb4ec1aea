"""Generate prompt sets from a tool catalog: coverage (one case per tool), multi-step, irrelevance, smoke, quick.

Values are derived from each tool's JSON Schema (parameter names, types, enums); system prompts carry the
session and workspace IDs, alternating the bullet and the XML style. Deterministic: same catalog, same sets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from toolset.components import ToolCatalog, ToolSpec

SESSION_ID = "session_1764000000000_evalset01"
WORKSPACES = (("Atlas Rollout", "ws_1764000000000_atlasroll"), ("Garden Notes", "ws_1764000000001_gardennot"))
IRRELEVANT_QUESTIONS = (
    "What is the capital of Australia?",
    "How many minutes are there in three and a half hours?",
    "Translate 'good morning' into Spanish.",
    "Who wrote the novel Pride and Prejudice?",
    "What is the boiling point of water at sea level in Fahrenheit?",
    "Give me a synonym for 'quick'.",
    "Is 97 a prime number?",
    "Which planet is closest to the sun?",
)
_PATHS = {
    "filepath": "Projects/Atlas/meeting-notes.md",
    "path": "Projects/Atlas/meeting-notes.md",
    "sourcepath": "Projects/Atlas/meeting-notes.md",
    "newpath": "Archive/Atlas/meeting-notes.md",
    "targetpath": "Archive/Atlas/meeting-notes-copy.md",
    "savepath": "Assets/atlas-cover.png",
    "rootfolder": "Projects/Atlas",
}
_TEXT = {
    "query": "quarterly roadmap",
    "name": "Atlas review",
    "content": "Follow up with the design team on Friday.",
    "newcontent": "Status: approved.",
    "oldcontent": "Status: draft.",
    "findtext": "draft",
    "replacetext": "final",
    "prompt": "Summarise the open risks of the Atlas rollout.",
    "description": "Reviews rollout notes",
    "purpose": "Track the Atlas customer rollout",
    "currentgoal": "Ship the pilot",
    "fieldpath": "currentGoal",
    "commandid": "editor:toggle-bold",
    "stateid": "state_1764000000000_checkpt01",
    "id": "agent_1764000000000_reviewer",
}
_EXPECTED_KEYS = set(_PATHS) | {"query", "name", "commandid", "stateid", "id", "fieldpath", "workspaceid", "sessionid"}


def system_prompt(index: int, workspace: int = 0) -> str:
    """A session system prompt in the bullet style (even ``index``) or the XML style (odd)."""
    name, workspace_id = WORKSPACES[workspace]
    listing = "\n".join(f'- {label} (id: "{ws}")' for label, ws in WORKSPACES)
    if index % 2 == 0:
        head = (
            '<session_context>\nInclude these values in the "context" parameter of every tool call:\n\n'
            f'- sessionId: "{SESSION_ID}"\n- workspaceId: "{workspace_id}" (current workspace: {name})\n'
            "</session_context>"
        )
    else:
        head = (
            f"<session_context>\n<sessionId>{SESSION_ID}</sessionId>\n<workspaceId>{workspace_id}</workspaceId>\n"
            'Pass both in the "context" argument of every tool call.\n</session_context>'
        )
    return f"{head}\n<available_workspaces>\n{listing}\n</available_workspaces>"


def expected_context(workspace: int = 0) -> dict[str, Any]:
    return {
        "session_id": SESSION_ID,
        "workspace_id": WORKSPACES[workspace][1],
        "workspace_ids": [ws for _label, ws in WORKSPACES],
        "agent_ids": [],
    }


def example_value(name: str, schema: dict[str, Any], workspace: int = 0) -> Any:
    """A plausible value for parameter ``name`` from its schema; ``None`` when none can be made up."""
    key = name.lower()
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if key == "workspaceid":
        return WORKSPACES[workspace][1]
    if key == "sessionid":
        return SESSION_ID
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return {"endline": 5}.get(key, 3)
    if kind == "array":
        item = example_value(name.rstrip("s"), schema.get("items") or {"type": "string"}, workspace)
        return [item] if isinstance(item, str | int | float) else None
    if kind == "object":
        return None
    if key in _PATHS:
        folder = "folder" in key or key in ("rootfolder",)
        return _PATHS[key].rsplit("/", 1)[0] if folder else _PATHS[key]
    return _TEXT.get(key, f"{name} value" if kind in ("string", None) else None)


def _mode_words(tool: ToolSpec) -> str:
    words = tool.description.split("(")[0].strip().rstrip(".") or tool.name
    return words[0].upper() + words[1:]


def tool_case(tool: ToolSpec, index: int, workspace: int = 0) -> dict[str, Any]:
    """One coverage case for ``tool``: its required parameters with example values in the question."""
    properties = tool.parameters.get("properties", {})
    required = [name for name in tool.parameters.get("required", []) if name != "context"]
    folder_tool = "folder" in tool.name.lower() or "directory" in tool.name.lower()
    mentioned, expected = [], {}
    for name in required:
        value = example_value(name, properties.get(name, {}), workspace)
        if folder_tool and isinstance(value, str) and value.endswith(".md"):
            value = value.rsplit("/", 1)[0] + ("/Old" if name.lower() in ("newpath", "targetpath") else "")
        if value is None:
            mentioned.append(f"{name}: choose a sensible value")
            continue
        mentioned.append(f"{name}: {json.dumps(value)}")
        if name.lower() in _EXPECTED_KEYS or "enum" in properties.get(name, {}):
            expected[name] = value
    details = f" Use {'; '.join(mentioned)}." if mentioned else ""
    agent = tool.name.split("_", 1)[0]
    case: dict[str, Any] = {
        "id": f"coverage_{tool.name}",
        "question": f"{_mode_words(tool)}.{details}",
        "tags": [agent, "single-tool", "bullet-system" if index % 2 == 0 else "xml-system"],
        "system": system_prompt(index, workspace),
        "expected_tools": [tool.name],
        "expected_context": expected_context(workspace),
    }
    if expected:
        case["expected_args"] = {tool.name: expected}
    return case


def coverage_set(catalog: ToolCatalog) -> list[dict[str, Any]]:
    return [tool_case(tool, index) for index, tool in enumerate(catalog.tools)]


def multistep_set(catalog: ToolCatalog, count: int = 5) -> list[dict[str, Any]]:
    """Pairs of tools from different agents, asked for in one request (matched order-free)."""
    by_agent: dict[str, list[ToolSpec]] = {}
    for tool in catalog.tools:
        by_agent.setdefault(tool.name.split("_", 1)[0], []).append(tool)
    agents = sorted(by_agent)
    cases = []
    for index in range(min(count, max(0, len(catalog.tools) - 1))):
        first_agent, second_agent = agents[index % len(agents)], agents[(index + 1) % len(agents)]
        first = by_agent[first_agent][index // len(agents) % len(by_agent[first_agent])]
        pool = [tool for tool in by_agent[second_agent] if tool.name != first.name] or [
            tool for tool in catalog.tools if tool.name != first.name
        ]
        second = pool[index % len(pool)]
        one, two = tool_case(first, index), tool_case(second, index)
        expected_args = {**one.get("expected_args", {}), **two.get("expected_args", {})}
        case = {
            "id": f"multistep_{first.name}__{second.name}",
            "question": f"Two things, please. First: {one['question']} Then: {two['question']}",
            "tags": [*sorted({first_agent, second_agent}), "multi-tool"],
            "system": system_prompt(index),
            "expected_tools": [first.name, second.name],
            "expected_context": expected_context(),
        }
        if expected_args:
            case["expected_args"] = expected_args
        cases.append(case)
    return cases


def irrelevance_set() -> list[dict[str, Any]]:
    return [
        {
            "id": f"irrelevance_{index:02d}",
            "question": question,
            "tags": ["irrelevance"],
            "system": system_prompt(index),
            "expected_tools": [],
            "expected_context": expected_context(),
            "expected_response_type": "text_only",
        }
        for index, question in enumerate(IRRELEVANT_QUESTIONS)
    ]


def smoke_set(catalog: ToolCatalog) -> list[dict[str, Any]]:
    """About eight cases: one coverage case for each of up to five agents, one multi-step, two irrelevance."""
    seen, picked = set(), []
    for case in coverage_set(catalog):
        agent = case["tags"][0]
        if agent not in seen and len(picked) < 5:
            seen.add(agent)
            picked.append(case)
    return picked + multistep_set(catalog, 1) + irrelevance_set()[:2]


def quick_set(catalog: ToolCatalog) -> list[dict[str, Any]]:
    """About twenty cases, enough for a quick run to tell a change from chance: every third coverage case (a
    spread over every agent), one multi-step and four irrelevance cases."""
    return coverage_set(catalog)[::3] + multistep_set(catalog, 1) + irrelevance_set()[:4]


def generate(catalog: ToolCatalog, prefix: str) -> dict[str, list[dict[str, Any]]]:
    return {
        f"{prefix}-coverage": coverage_set(catalog),
        f"{prefix}-multistep": multistep_set(catalog),
        f"{prefix}-irrelevance": irrelevance_set(),
        f"{prefix}-smoke": smoke_set(catalog),
        f"{prefix}-quick": quick_set(catalog),
    }


def write_sets(sets: dict[str, list[dict[str, Any]]], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cases in sets.items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name):
            raise ValueError(f"bad prompt set name {name!r}")
        path = directory / f"{name}.json"
        path.write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
