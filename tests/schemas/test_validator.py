"""The validator on conversations built in memory: one stable code per kind of problem, and the report."""

from __future__ import annotations

import pytest

from toolset.components import ToolCatalog, ToolSpec
from toolset.data import ToolCall
from toolset_schemas import claudesidian
from toolset_schemas.validator import CODES, Report, Validator, render

from .conftest import XML_PROMPT, call, context, conversation


@pytest.fixture(scope="module")
def validator():
    return Validator(claudesidian.catalog())


def check(validator, *calls, **kwargs):
    return validator.check_conversation(conversation(*calls, **kwargs))


def only(result):
    return [(f.code, f.severity, f.field) for f in result.findings]


def test_valid_call(validator):
    result = check(validator, call(path="Projects/AI/Resources"))
    assert result.findings == [] and result.valid


def test_unknown_tool_with_did_you_mean(validator):
    result = check(validator, call("vaultManager_createFoldr", path="A"))
    assert only(result) == [("unknown-tool", "error", "tool_calls[0].name")]
    assert "did you mean vaultManager_createFolder?" in result.findings[0].message


def test_missing_required_names_the_field(validator):
    result = check(validator, call("contentManager_createContent", filePath="a.md"))
    assert only(result) == [("missing-required", "error", "tool_calls[0].arguments.content")]
    missing_context_field = call(context=context(subgoal=None), path="A")
    assert only(check(validator, missing_context_field)) == [
        ("missing-required", "error", "tool_calls[0].arguments.context.subgoal")
    ]


def test_wrong_type_and_enum(validator):
    result = check(validator, call("vaultManager_openNote", path="a.md", mode="splitview", focus="yes"))
    assert sorted(only(result)) == [
        ("bad-enum", "error", "tool_calls[0].arguments.mode"),
        ("wrong-type", "error", "tool_calls[0].arguments.focus"),
    ]


def test_union_type_mismatch_is_wrong_type(validator):
    result = check(validator, call("memoryManager_createSession", workspaceContext=5))
    assert ("wrong-type", "error", "tool_calls[0].arguments.workspaceContext") in only(result)


def test_id_format_inside_context(validator):
    bad = call(context=context(sessionId="session_1732868000000_ctx37a"), path="A")
    result = validator.check_conversation(conversation(bad, system=None))
    assert only(result) == [("bad-id-format", "error", "tool_calls[0].arguments.context.sessionId")]


def test_id_format_of_declared_parameters(validator):
    result = check(validator, call("memoryManager_loadSession", sessionId="session_design_ui_2025"))
    assert only(result) == [("bad-id-format", "error", "tool_calls[0].arguments.sessionId")]
    nested = check(validator, call("memoryManager_createSession", workspaceContext={"workspaceId": "ws_x"}))
    assert only(nested) == [("bad-id-format", "error", "tool_calls[0].arguments.workspaceContext.workspaceId")]


def test_unexpected_parameter_is_a_warning_unless_strict(validator):
    extra = call("vaultManager_deleteNote", path="a.md", permanent=True)
    result = check(validator, extra)
    assert only(result) == [("unexpected-parameter", "warning", "tool_calls[0].arguments.permanent")]
    assert result.valid
    strict = Validator(claudesidian.catalog(), strict=True).check_conversation(conversation(extra))
    assert only(strict) == [("unexpected-parameter", "error", "tool_calls[0].arguments.permanent")]
    assert not strict.valid


def test_arguments_not_json(validator):
    broken = ToolCall(name="vaultManager_createFolder", raw_arguments='{"context": {"sessionId": ')
    result = check(validator, broken)
    assert only(result) == [("arguments-not-json", "error", "tool_calls[0].arguments")]
    assert "not valid JSON" in result.findings[0].message


def test_rules_run_after_the_schema(validator):
    late = ToolCall(name="vaultManager_createFolder", arguments={"path": "A", "context": context()})
    mismatch = call(context=context(workspaceId="default"), path="B")
    result = validator.check_conversation(conversation(late, mismatch, system=XML_PROMPT, line=7))
    assert only(result) == [
        ("context-not-first", "error", "tool_calls[0].arguments"),
        ("workspace-mismatch", "error", "tool_calls[1].arguments.context.workspaceId"),
    ]
    assert {(f.source, f.line) for f in result.findings} == {("data.jsonl", 7)}


def test_a_broken_rule_is_reported_not_raised():
    def explode(call, conversation):
        raise RuntimeError("boom")

    catalog = ToolCatalog(name="t", tools=[ToolSpec("ping", "Ping.", {"type": "object"})], rules=[explode])
    result = Validator(catalog).check_conversation(conversation(ToolCall(name="ping"), system=None))
    assert only(result) == [("rule-failed", "error", "tool_calls[0]")]


def test_kto_label_false_findings_are_expected(validator):
    bad = call("vaultManager_createFoldr", path="A")
    undesirable = check(validator, bad, label=False)
    assert undesirable.findings == [] and [f.severity for f in undesirable.expected] == ["info"]
    assert not undesirable.valid  # it has the error it is meant to have
    desirable = check(validator, bad, label=True)
    assert [f.severity for f in desirable.findings] == ["error"]


def test_report_summary_and_render(validator):
    report = Report(toolset="claudesidian")
    conversations = [
        conversation(call(path="A"), label=True, line=1),
        conversation(call("vaultManager_createFoldr", path="A"), label=False, line=2),
        conversation(call("vaultManager_deleteNote", path="a.md", permanent=True), label=True, line=3),
        conversation(call("vaultManager_openNote", path="a.md", mode="x"), label=True, line=4),
    ]
    validator.validate(conversations, report)
    summary = report.summary()
    assert summary["conversations"] == 4 and summary["tool_calls"] == 4
    assert summary["valid"] == 2 and summary["valid_percent"] == 50.0
    assert summary["by_code"] == {"unexpected-parameter": 1, "bad-enum": 1}
    assert summary["by_tool"] == {"vaultManager_deleteNote": 1, "vaultManager_openNote": 1}
    assert summary["kto"] == {
        "desirable": 3,
        "desirable_valid": 2,
        "undesirable": 1,
        "undesirable_with_errors": 1,
        "expected_by_code": {"unknown-tool": 1},
    }
    assert report.has_errors
    lines = list(render(report))
    assert lines[0].startswith("data.jsonl:3: warning unexpected-parameter [tool_calls[0].arguments.permanent]")
    assert any("4 conversation(s), 4 tool call(s)" in line for line in lines)
    assert not any("createFoldr" in line for line in lines)
    assert any("createFoldr" in line for line in render(report, show_expected=True))
    data = report.to_json()
    assert data["summary"] == summary and len(data["expected_findings"]) == 1


def test_every_code_is_documented():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "validation.md").read_text()
    for code in CODES:
        assert f"`{code}`" in doc, code
