"""Prompt sets: the upstream files load as they are, malformed sets give clear errors, shipped sets are generated."""

from __future__ import annotations

import json

import pytest

from toolset.components import ToolCatalog, ToolSpec
from toolset_eval.prompt_generation import generate
from toolset_eval.prompts import PromptSetError, load_prompt_set, parse_prompt_set, shipped_prompt_sets


def test_upstream_prompt_files_load(upstream_data):
    folder = upstream_data / "Evaluator/prompts"
    tools = load_prompt_set(folder / "tool_prompts.json")
    behaviour = load_prompt_set(folder / "behavior_prompts_archived_20251202.json")
    assert len(tools.cases) == 44 and len(behaviour.cases) == 51
    first = tools.cases[0]
    assert first.expected_tools == ("agentManager_batchExecutePrompt",)
    assert first.expected_context.session_id.startswith("session_")
    assert len(first.expected_context.agent_ids) == 5
    no_tools = [case for case in behaviour.cases if not case.expected_tools]
    assert len(no_tools) == 9 and all(case.agents == ["none"] for case in no_tools)
    assert any(case.behavior_expectations.get("does_not_call_tool") for case in no_tools)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "x"}, "must be a JSON list"),
        ([{"id": "a", "question": "q"}, "nope"], "case 1: a case must be an object"),
        ([{"id": "a"}], "case 0 (a): field 'question' is required"),
        ([{"id": "a", "question": "q", "tags": "x"}], "case 0 (a): field 'tags' must be a list of strings"),
        ([{"id": "a", "question": "q", "expected_context": {"workspace_ids": "w"}}], "expected_context.workspace_ids"),
        ([{"id": "a", "question": "q", "expected_args": {"t": 1}}], "'expected_args.t' must be an object"),
        ([{"id": "a", "question": "q", "surprise": 1}], "unknown field(s) 'surprise'"),
        ([{"id": "a", "question": "q"}, {"id": "a", "question": "r"}], "case 1 (a): duplicate id"),
    ],
)
def test_malformed_sets_name_file_case_and_field(data, message):
    with pytest.raises(PromptSetError) as error:
        parse_prompt_set(data, "sets/bad.json")
    assert str(error.value).startswith("sets/bad.json: ") and message in str(error.value)


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"id": "a",\n')
    with pytest.raises(PromptSetError, match=r"broken.json:3:\d+: not valid JSON"):
        load_prompt_set(path)
    with pytest.raises(PromptSetError, match="no such file or shipped set"):
        load_prompt_set(str(tmp_path / "missing.json"))


def test_shipped_sets_load_and_cover_every_claudesidian_tool():
    import toolset

    catalog = toolset.get_toolset("claudesidian").factory(None)
    assert set(shipped_prompt_sets()) >= {
        "claudesidian-coverage",
        "claudesidian-multistep",
        "claudesidian-irrelevance",
        "claudesidian-smoke",
        "claudesidian-quick",
    }
    coverage = load_prompt_set("claudesidian-coverage")
    assert sorted(tool for case in coverage.cases for tool in case.expected_tools) == sorted(catalog.names)
    assert {"bullet-system", "xml-system"} <= {tag for case in coverage.cases for tag in case.tags}
    assert any("<sessionId>" in case.system for case in coverage.cases)
    assert any("- sessionId:" in case.system for case in coverage.cases)
    assert all(not case.expected_tools for case in load_prompt_set("claudesidian-irrelevance").cases)
    assert 6 <= len(load_prompt_set("claudesidian-smoke").cases) <= 10
    quick = load_prompt_set("claudesidian-quick").cases
    assert 16 <= len(quick) <= 24
    held_out = ("coverage", "multistep", "irrelevance")
    assert {case.id for case in quick} <= {
        case.id for name in held_out for case in load_prompt_set(f"claudesidian-{name}").cases
    }
    assert {case.tags[0] for case in coverage.cases} == {case.tags[0] for case in quick[:16]}  # every agent
    assert all(len(case.expected_tools) == 2 for case in load_prompt_set("claudesidian-multistep").cases)


def test_shipped_sets_are_what_the_generator_makes_now():
    """The package data is regenerated whenever the tool set changes (scripts/generate_prompt_sets.py)."""
    import toolset

    catalog = toolset.get_toolset("claudesidian").factory(None)
    for name, cases in generate(catalog, "claudesidian").items():
        assert json.loads(shipped_prompt_sets()[name].read_text()) == cases, name


def test_generator_on_a_small_catalog_makes_loadable_sets():
    schema = {
        "type": "object",
        "properties": {"context": {"type": "object"}, "path": {"type": "string"}, "mode": {"enum": ["a", "b"]}},
        "required": ["context", "path", "mode"],
    }
    catalog = ToolCatalog(
        name="notes",
        tools=[
            ToolSpec("notes_readNote", "Read note (notes agent).", schema),
            ToolSpec("files_listFolder", "List folder.", schema),
        ],
    )
    sets = generate(catalog, "notes")
    loaded = {name: parse_prompt_set(cases, f"{name}.json") for name, cases in sets.items()}
    read = loaded["notes-coverage"].cases[0]
    assert read.expected_args == {"notes_readNote": {"path": "Projects/Atlas/meeting-notes.md", "mode": "a"}}
    assert '"Projects/Atlas/meeting-notes.md"' in read.question
    folder = loaded["notes-coverage"].cases[1]
    assert folder.expected_args["files_listFolder"]["path"] == "Projects/Atlas"
    assert loaded["notes-multistep"].cases[0].expected_tools == ("files_listFolder", "notes_readNote")
