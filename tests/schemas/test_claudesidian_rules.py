"""Claudesidian's extra rules: context first, id formats, and ids matching the system prompt (both styles)."""

from __future__ import annotations

from toolset.data import ToolCall
from toolset_schemas.claudesidian import context_first, id_formats, matches_system_prompt
from toolset_schemas.session_prompt import parse_session_prompt

from .conftest import BULLET_PROMPT, OTHER_WORKSPACE, SESSION, WORKSPACE, XML_PROMPT, call, context, conversation


def codes(rule, tool_call, conv=None):
    return [finding.code for finding in rule(tool_call, conv or conversation(tool_call))]


def test_bullet_prompt():
    prompt = parse_session_prompt(BULLET_PROMPT)
    assert (prompt.session_id, prompt.workspace_id, prompt.style) == (SESSION, WORKSPACE, "bullet")
    assert prompt.available_workspaces == (WORKSPACE, OTHER_WORKSPACE)


def test_xml_prompt():
    prompt = parse_session_prompt(XML_PROMPT)
    assert (prompt.session_id, prompt.workspace_id, prompt.style) == (SESSION, WORKSPACE, "xml")
    assert prompt.allowed_workspaces == {WORKSPACE, OTHER_WORKSPACE}


def test_default_workspace_and_json_listing():
    text = '<session_context>\n- sessionId: "s1"\n- workspaceId: "default" (no specific workspace selected)\n'
    text += '</session_context>\n<available_workspaces>\n  [{"id": "ws_a", "name": "A"}]\n</available_workspaces>'
    prompt = parse_session_prompt(text)
    assert (prompt.session_id, prompt.workspace_id) == ("s1", "default")
    assert prompt.available_workspaces == ("ws_a",)


def test_no_prompt():
    assert parse_session_prompt(None).session_id is None
    assert parse_session_prompt("You are a helpful assistant.").allowed_workspaces == set()


def test_context_must_come_first():
    assert codes(context_first, call(path="Notes")) == []
    late = ToolCall(name="vaultManager_createFolder", arguments={"path": "Notes", "context": context()})
    findings = list(context_first(late, conversation(late)))
    assert [f.code for f in findings] == ["context-not-first"]
    assert "after 'path'" in findings[0].message


def test_id_formats_in_free_form_objects():
    good = call("memoryManager_listSessions", filters={"workspaceId": WORKSPACE})
    assert codes(id_formats, good) == []
    nested = call("agentManager_listAgents", filters=[{"sessionId": "session_design_ui_2025"}])
    findings = list(id_formats(nested, conversation(nested)))
    assert [(f.code, f.field) for f in findings] == [("bad-id-format", "arguments.filters[0].sessionId")]


def test_ids_the_schema_types_are_left_to_the_schema():
    declared = call("memoryManager_loadSession", sessionId="session_design_ui_2025")
    typed = call("memoryManager_createSession", workspaceContext={"workspaceId": "ws_project_alpha"})
    in_context = call(context=context(workspaceId="ws_bad"), path="A")
    assert codes(id_formats, declared) == codes(id_formats, typed) == codes(id_formats, in_context) == []


def test_ids_must_match_the_prompt_in_both_styles():
    for prompt in (BULLET_PROMPT, XML_PROMPT):
        same = call(path="A")
        assert codes(matches_system_prompt, same, conversation(same, system=prompt)) == []
        listed = call(context=context(workspaceId=OTHER_WORKSPACE), path="A")
        assert codes(matches_system_prompt, listed, conversation(listed, system=prompt)) == []
        other = call(context=context(sessionId="session_1731071640123_zzzzzzzzz", workspaceId="default"), path="A")
        assert codes(matches_system_prompt, other, conversation(other, system=prompt)) == [
            "session-mismatch",
            "workspace-mismatch",
        ]


def test_without_a_prompt_nothing_is_cross_checked():
    anything = call(context=context(sessionId="session_1731071640123_zzzzzzzzz"), path="A")
    assert codes(matches_system_prompt, anything, conversation(anything, system=None)) == []
