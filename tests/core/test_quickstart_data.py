"""The quickstart's generated training data: up to date with its script, valid, covering every tool, and
sharing nothing with any evaluation case (shipped prompt sets, and the upstream ones when ../shared has them)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from toolset.data.readers import read_conversations, sample_path

SCRIPT = Path(__file__).resolve().parents[2] / "packages" / "toolset-core" / "scripts" / "generate_quickstart_data.py"
FILES = ("quickstart_sft.jsonl", "quickstart_kto.jsonl")
UPSTREAM = SCRIPT.parents[4] / "shared" / "upstream-data"  # beside the checkout, when present


def test_the_shipped_files_are_what_the_script_writes():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_every_tool_is_taught_and_the_sft_file_validates():
    from toolset_schemas.validator import validate_files

    calls = {name: Counter() for name in FILES}
    for name in FILES:
        for conversation in read_conversations(sample_path(name)):
            if conversation.label is not False:
                calls[name].update(call.name for call in conversation.tool_calls)
    from toolset import get_toolset

    component = get_toolset("claudesidian")
    tools = set(component.factory(component.default_config()).names)
    assert set(calls["quickstart_sft.jsonl"]) == tools and min(calls["quickstart_sft.jsonl"].values()) >= 6
    assert set(calls["quickstart_kto.jsonl"]) == tools
    report = validate_files([sample_path(FILES[0])], strict=True)
    assert report.counts["conversations"] >= 300 and report.counts["valid"] == report.counts["conversations"]
    kto = validate_files([sample_path(FILES[1])], strict=True)
    assert kto.counts["desirable_valid"] == kto.counts["desirable"] > 90
    assert kto.counts["undesirable"] == kto.counts["desirable"]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def evaluation_cases(upstream: Path | None) -> list[dict]:
    from toolset_eval.prompts import shipped_prompt_sets

    cases = [case for path in shipped_prompt_sets().values() for case in json.loads(path.read_text())]
    if upstream is not None:
        for name in ("tool_prompts.json", "behavior_prompts_archived_20251202.json"):
            cases += json.loads((upstream / "Evaluator" / "prompts" / name).read_text())
    return cases


def training_texts(paths) -> tuple[set[str], set[str]]:
    """Every user message; every string of a call's arguments and every id-like word of a system prompt."""
    questions, values = set(), set()
    for path in paths:
        for conversation in read_conversations(path):
            for message in conversation.messages:
                if message.role == "user":
                    questions.add(message.content.strip())
                for call in message.tool_calls or []:
                    values.update(_strings(call.arguments))
            values.update(word.strip('"') for word in conversation.messages[0].content.split() if "_" in word)
    return questions, values


def vocabulary() -> set[str]:
    """The tool set's own words: enum values and parameter names (a case sharing them shares nothing of its own)."""
    from toolset import get_toolset

    component = get_toolset("claudesidian")
    words: set[str] = set()

    def walk(schema):
        if isinstance(schema, dict):
            words.update(str(value) for value in schema.get("enum", []))
            words.update(schema.get("properties", {}))
            for item in schema.values():
                walk(item)
        elif isinstance(schema, list):
            for item in schema:
                walk(item)

    for tool in component.factory(component.default_config()).tools:
        walk(tool.parameters)
    return words


def leaks(cases: list[dict], questions: set[str], values: set[str]) -> list[str]:
    """Evaluation cases whose question, expected values or context ids appear in the training data."""
    values = values - vocabulary()
    found = []
    for case in cases:
        if case["question"].strip() in questions:
            found.append(f"{case['id']}: its question")
        expected = [v for args in (case.get("expected_args") or {}).values() for v in _strings(args)]
        context = case.get("expected_context") or {}
        ids = [context.get("session_id"), context.get("workspace_id"), *(context.get("workspace_ids") or [])]
        found += [f"{case['id']}: {v!r}" for v in [*expected, *ids] if v and v in values]
    return found


def test_no_evaluation_case_is_in_the_training_data():
    upstream = UPSTREAM if UPSTREAM.is_dir() else None  # the upstream prompt sets join the check when present
    cases = evaluation_cases(upstream)
    assert len(cases) > (150 if upstream else 60)
    assert leaks(cases, *training_texts([sample_path(name) for name in FILES])) == []


def test_the_check_finds_a_leaked_case(tmp_path):
    row = json.loads(sample_path(FILES[0]).read_text().splitlines()[0])
    row["conversations"][1]["content"] = 'Delete folder. Use path: "Projects/Atlas".'
    path = tmp_path / "leak.jsonl"
    path.write_text(json.dumps(row) + "\n")
    found = leaks(evaluation_cases(None), *training_texts([path]))
    assert "coverage_vaultManager_deleteFolder: its question" in found
    row["conversations"][0]["content"] += ' sessionId: "session_1764000000000_evalset01"'
    path.write_text(json.dumps(row) + "\n")
    assert any(
        "'session_1764000000000_evalset01'" in leak for leak in leaks(evaluation_cases(None), *training_texts([path]))
    )
