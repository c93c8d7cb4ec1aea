"""Schema-exact scoring: every reason code from hand-made answers, no model involved."""

from __future__ import annotations

import json

import pytest

from toolset.components import ChatResponse, ToolCatalog, ToolSpec
from toolset_eval.prompts import parse_case
from toolset_eval.scoring import BEHAVIOR_CHECKS, REASONS, Scorer, normalise

SESSION = "session_1764000000000_abcdefghi"
WORKSPACE = "ws_1764000000000_abcdefghi"
OTHER_WORKSPACE = "ws_1764000000001_abcdefghi"
CONTEXT_SCHEMA = {
    "type": "object",
    "properties": {
        "sessionId": {"type": "string", "pattern": "^session_[0-9]{13}_[a-z0-9]{9}$"},
        "workspaceId": {"type": "string"},
        "sessionMemory": {"type": "string"},
    },
    "required": ["sessionId", "workspaceId"],
    "additionalProperties": False,
}


def _tool(name: str, properties: dict, required: list[str]) -> ToolSpec:
    schema = {
        "type": "object",
        "properties": {"context": CONTEXT_SCHEMA, **properties},
        "required": ["context", *required],
        "additionalProperties": False,
    }
    return ToolSpec(name=name, description=name, parameters=schema)


CATALOG = ToolCatalog(
    name="notes",
    tools=[
        _tool("notes_read", {"filePath": {"type": "string"}}, ["filePath"]),
        _tool(
            "notes_search",
            {"query": {"type": "string"}, "limit": {"type": "integer"}, "mode": {"enum": ["fast", "deep"]}},
            ["query"],
        ),
        _tool("agent_executePrompt", {"prompt": {"type": "string"}}, ["prompt"]),
    ],
)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(CATALOG)


def case(**fields):
    raw = {
        "id": "c1",
        "question": "Read the note",
        "system": f'- sessionId: "{SESSION}"\n- workspaceId: "{WORKSPACE}"',
        "expected_context": {"session_id": SESSION, "workspace_id": WORKSPACE, "workspace_ids": [OTHER_WORKSPACE]},
        "expected_tools": ["notes_read"],
        **fields,
    }
    return parse_case({k: v for k, v in raw.items() if v is not None}, 0, "test.json")


def ctx(**overrides):
    return {"sessionId": SESSION, "workspaceId": WORKSPACE, **overrides}


def native(*calls, content=None) -> ChatResponse:
    return ChatResponse(content=content, tool_calls=[{"name": name, "arguments": args} for name, args in calls])


def codes(scorer, the_case, response) -> list[str]:
    _parsed, score = scorer.score(the_case, response)
    assert score.passed == (not score.reasons)
    return [reason.code for reason in score.reasons]


def test_a_correct_call_passes(scorer):
    response = native(("notes_read", {"context": ctx(), "filePath": "Notes/Today.md"}))
    assert codes(scorer, case(expected_args={"notes_read": {"filePath": "notes/today.md/"}}), response) == []


def test_text_tool_calls_are_scored_like_native_ones(scorer):
    call = {"name": "notes_read", "arguments": {"context": ctx(), "filePath": "a.md"}}
    response = ChatResponse(content=f"Reading it.\n<tool_call>{json.dumps(call)}</tool_call>")
    assert codes(scorer, case(), response) == []


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("", "parse.empty"),
        ("I cannot do that.", "parse.no_tool_call"),
        ('<tool_call>{"name": "notes_read", "arguments": {</tool_call>', "parse.invalid_json"),
        ('<tool_call>{"arguments": {}}</tool_call>', "parse.missing_name"),
        ('<tool_call>{"name": "notes_read", "arguments": [1]}</tool_call>', "parse.invalid_arguments"),
        ("tool_call: notes_read\n", "parse.missing_arguments"),
        ('<tool_call>{"name": "notes_read", "arguments": {"a": ', "parse.unclosed_tag"),
    ],
)
def test_malformed_answers_fail_with_their_parse_reason(scorer, content, code):
    assert code in codes(scorer, case(), ChatResponse(content=content))


def test_wrong_missing_extra_and_unknown_tools(scorer):
    read = ("notes_read", {"context": ctx(), "filePath": "a.md"})
    search = ("notes_search", {"context": ctx(), "query": "x"})
    assert codes(scorer, case(), native(search)) == ["call.wrong_tool"]
    assert codes(scorer, case(expected_tools=["notes_read", "notes_search"]), native(read)) == ["call.missing_tool"]
    assert codes(scorer, case(), native(read, search)) == ["call.extra_call"]
    assert codes(scorer, case(), native(read, ("notes_raed", {}))) == ["call.unknown_tool"]


def test_several_calls_are_matched_order_free(scorer):
    the_case = case(
        expected_tools=["notes_read", "notes_search"],
        expected_args={"notes_read": {"filePath": "b.md"}, "notes_search": {"query": "plans"}},
    )
    response = native(
        ("notes_search", {"context": ctx(), "query": " Plans "}),
        ("notes_read", {"context": ctx(), "filePath": "a.md"}),
        ("notes_read", {"context": ctx(), "filePath": "b.md"}),
    )
    assert codes(scorer, the_case, response) == ["call.extra_call"]  # the extra read, values matched best-first
    two = native(
        ("notes_read", {"context": ctx(), "filePath": "B.md"}), ("notes_search", {"context": ctx(), "query": "plans"})
    )
    assert codes(scorer, the_case, two) == []


def test_schema_reasons(scorer):
    def only(arguments, tool="notes_search"):
        return codes(scorer, case(expected_tools=[tool]), native((tool, arguments)))

    assert only({"context": ctx()}) == ["schema.missing_required"]
    assert only({"context": ctx(), "query": "x", "verbose": True}) == ["schema.unexpected_parameter"]
    assert only({"context": ctx(), "query": 3}) == ["schema.wrong_type"]
    assert only({"context": ctx(), "query": "x", "mode": "slow"}) == ["schema.bad_enum"]
    assert only({"context": ctx(sessionId="session_1"), "query": "x"}) == [
        "schema.bad_id_format",
        "context.session_mismatch",
    ]


def test_value_reasons_and_normalisation(scorer):
    the_case = case(expected_args={"notes_read": {"filePath": "Notes/a.md"}})
    assert codes(scorer, the_case, native(("notes_read", {"context": ctx(), "filePath": "Notes/b.md"}))) == [
        "value.mismatch"
    ]
    search_case = case(expected_tools=["notes_search"], expected_args={"notes_search": {"limit": 5}})
    assert codes(scorer, search_case, native(("notes_search", {"context": ctx(), "query": "q"}))) == ["value.missing"]
    assert normalise("  Projects/ Atlas/ ") == "projects/ atlas"
    assert normalise({"a": ["X/"], "n": 5.0}) == {"a": ["x"], "n": 5}


def test_expected_context(scorer):
    def with_context(context):
        return codes(scorer, case(), native(("notes_read", {"context": context, "filePath": "a.md"})))

    assert with_context(ctx(workspaceId=OTHER_WORKSPACE)) == []  # listed in workspace_ids
    assert with_context(ctx(sessionId="session_1764000000000_zzzzzzzzz")) == ["context.session_mismatch"]
    assert with_context(ctx(workspaceId="default")) == ["context.workspace_mismatch"]
    assert codes(scorer, case(), native(("notes_read", {"filePath": "a.md"}))) == [
        "schema.missing_required",
        "context.missing",
    ]


def test_irrelevance_passes_only_without_a_call(scorer):
    the_case = case(expected_tools=[], expected_response_type="text_only")
    assert codes(scorer, the_case, ChatResponse(content="Canberra.")) == []
    assert codes(scorer, the_case, native(("notes_read", {"context": ctx(), "filePath": "a.md"}))) == [
        "call.unexpected",
        "response_type.mismatch",
    ]


def test_behaviour_checks(scorer):
    ask = case(
        expected_tools=None,
        behavior_expectations={"asks_for_user_input": True, "does_not_call_tool": True},
        anti_patterns_to_avoid={"immediate_tool_call": True, "assumes_user_choice": True},
    )
    assert codes(scorer, ask, ChatResponse(content="Which project do you mean?")) == []
    assert codes(scorer, ask, ChatResponse(content="Deleting them now.")) == ["behavior.asks_for_user_input"]
    called = codes(scorer, ask, native(("notes_read", {"context": ctx(), "filePath": "a.md"}), content="Ok?"))
    assert called == ["behavior.does_not_call_tool", "anti.immediate_tool_call"]
    _parsed, score = scorer.score(ask, ChatResponse(content="Which one?"))
    assert [note.code for note in score.notes] == ["behavior.unsupported"]  # assumes_user_choice: a note only

    memory = case(behavior_expectations={"sessionMemory_min_chars": 20})
    short = native(("notes_read", {"context": ctx(sessionMemory="short"), "filePath": "a.md"}))
    assert codes(scorer, memory, short) == ["behavior.session_memory_too_short"]

    delegate = case(expected_tools=["agent_executePrompt"], behavior_expectations={"delegates_with_tool": "x_y"})
    prompt = native(("agent_executePrompt", {"context": ctx(), "prompt": "Plan it"}))
    assert codes(scorer, delegate, prompt) == ["behavior.no_delegation"]

    limit = case(expected_tools=["notes_search"], behavior_expectations={"uses_appropriate_limit": True})
    assert codes(scorer, limit, native(("notes_search", {"context": ctx(), "query": "q", "limit": 10}))) == []
    assert codes(scorer, limit, native(("notes_search", {"context": ctx(), "query": "q", "limit": 500}))) == [
        "behavior.limit_not_appropriate"
    ]

    terse = case(expected_response_type="tool_only", behavior_expectations={"minimal_or_no_explanation": True})
    chatty = native(("notes_read", {"context": ctx(), "filePath": "a.md"}), content="x" * 300)
    assert codes(scorer, terse, chatty) == ["behavior.too_much_explanation"]
    text_only = case(expected_response_type="tool_only", behavior_expectations={"calls_tool_directly": True})
    assert codes(scorer, text_only, ChatResponse(content="Sure.")) == [
        "parse.no_tool_call",
        "behavior.no_tool_call",
        "response_type.mismatch",
    ]


def test_every_behaviour_expectation_of_the_upstream_prompts_is_known_or_a_note(scorer, upstream_data):
    from toolset_eval.prompts import load_prompt_set

    prompts = load_prompt_set(upstream_data / "Evaluator/prompts/behavior_prompts_archived_20251202.json")
    for the_case in prompts.cases:
        _parsed, score = scorer.score(the_case, ChatResponse(content="Which one do you mean?"))
        assert all(reason.code in REASONS for reason in (*score.reasons, *score.notes))
    used = {name for the_case in prompts.cases for name in the_case.behavior_expectations}
    assert {"does_not_call_tool", "asks_for_user_input", "sessionMemory_min_chars", "uses_execute_prompt"} <= used
    assert used & set(BEHAVIOR_CHECKS) >= {"delegates_complex_task", "uses_appropriate_limit", "then_calls_tool"}


def test_claudesidian_catalog_scores_a_correct_call():
    import toolset

    catalog = toolset.get_toolset("claudesidian").factory(None)
    the_case = case(expected_tools=["contentManager_readContent"])
    full = {"sessionDescription": "Daily notes", "sessionMemory": "Reading today's note.", "toolContext": "read"}
    full |= {"primaryGoal": "Review the day", "subgoal": "Read the note"}
    arguments = {"context": ctx(**full), "filePath": "Daily/today.md"}
    good = native(("contentManager_readContent", arguments))
    scorer = Scorer(catalog)
    assert codes(scorer, the_case, good) == []
    swapped = native(("contentManager_readContent", {"filePath": "Daily/today.md", "context": arguments["context"]}))
    assert "schema.context_not_first" in codes(scorer, the_case, swapped)


def test_every_reason_code_is_documented():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "evaluation.md").read_text()
    assert [code for code in REASONS if f"| `{code}` |" not in doc] == []
