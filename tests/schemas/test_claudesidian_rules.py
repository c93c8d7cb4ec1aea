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


def _regex_reference(text):
    """The prompt parse spelled with the module's regular expressions alone (what the fast finders must equal)."""
    from toolset_schemas import session_prompt as module

    found = []
    for key in ("sessionId", "workspaceId"):
        xml, bullet = module._PATTERNS[key]
        match = xml.search(text) or bullet.search(text)
        found.append(match.group(1) if match else None)
        found.append(None if match is None else "xml" if match.re is xml else "bullet")
    available = []
    for block in module._AVAILABLE.findall(text):
        available += [value for value in module._LISTED_ID.findall(block) if value not in available]
    return found[0], found[2], tuple(available), found[1] or found[3]


PIECES = [
    "-", "- ", " ", "\n", "\t", "\u00a0", "\u2028", ":", "=", '"', "'", "x", "_", "é", "1", "sessionId", "workspaceId",
    "sessionId:", "- sessionId: ", "- workspaceId: ", "<sessionId>", "</sessionId>", "<workspaceId>",
    "</workspaceId>", "<available_workspaces>", "</available_workspaces>", "id", "id:", 'id="', "(id: ", '"id": ',
    "_id", "xid", "ws_a", "session_1",
]  # fmt: skip


def test_fast_prompt_parse_equals_the_regular_expressions():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from toolset_schemas.session_prompt import parse_session_prompt, prompt_ids

    parse = parse_session_prompt.__wrapped__

    @settings(max_examples=1500, deadline=None)
    @given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
    def agree(text):
        prompt = parse(text)
        expected = _regex_reference(text)
        if not text:
            expected = (None, None, (), None)
        assert (prompt.session_id, prompt.workspace_id, prompt.available_workspaces, prompt.style) == expected
        assert prompt_ids.__wrapped__(text) == expected[:2]

    agree()
    for text in (BULLET_PROMPT, XML_PROMPT, "x\n  -\n\n sessionId:\t'abc' ", "-sessionId:a", "a - sessionId: b"):
        prompt = parse(text)
        assert (prompt.session_id, prompt.workspace_id, prompt.available_workspaces, prompt.style) == (
            _regex_reference(text)
        )


def test_fast_prompt_parse_on_the_real_prompts(upstream_data):
    import json

    from toolset_schemas.session_prompt import parse_session_prompt

    seen = set()
    for path in sorted((upstream_data / "Datasets").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            messages = record.get("conversations") or record.get("messages") or [] if isinstance(record, dict) else []
            for message in messages:
                content = message.get("content") if isinstance(message, dict) else None
                if message.get("role") == "system" and isinstance(content, str) and content not in seen:
                    seen.add(content)
                    prompt = parse_session_prompt.__wrapped__(content)
                    actual = (prompt.session_id, prompt.workspace_id, prompt.available_workspaces, prompt.style)
                    assert actual == _regex_reference(content), path
    assert seen
