"""`.json` files holding one JSON document: a list of records, one record, JSON Lines after all, or no data."""

from __future__ import annotations

import json

import pytest

from toolset.data.readers import read_conversations
from toolset.errors import ToolsetError

from .test_readers import CONTEXT, call_record


def read(path, **kwargs):
    findings = []
    conversations = list(read_conversations(path, findings=findings, **kwargs))
    return conversations, findings


def test_a_pretty_printed_list_numbers_each_record_by_its_first_line(tmp_path):
    records = [call_record(json.dumps({"context": CONTEXT, "path": f"N{i}"})) for i in range(3)]
    text = json.dumps(records, indent=2)
    path = tmp_path / "data.json"
    path.write_text(text)
    conversations, findings = read(path)
    assert findings == []
    assert [c.tool_calls[0].arguments["path"] for c in conversations] == ["N0", "N1", "N2"]
    starts = [number for number, line in enumerate(text.splitlines(), 1) if line == "  {"]
    assert [c.line for c in conversations] == starts and conversations[0].source == str(path)
    assert conversations[0].label is True and conversations[0].metadata["behavior"] == "demo"


def test_bad_items_are_reported_at_their_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[\n  {"conversations": [{"role": "user", "content": "hi"}]},\n  7,\n  {"nothing": 1}\n]')
    conversations, findings = read(path)
    assert len(conversations) == 1
    assert [(f.code, f.line) for f in findings] == [
        ("conversation.no_assistant", 2),
        ("record.not_object", 3),
        ("record.no_messages", 4),
    ]


def test_one_record_with_bom_and_crlf(tmp_path):
    path = tmp_path / "one.json"
    text = json.dumps(call_record({"context": CONTEXT, "path": "A"}), indent=1).replace("\n", "\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    conversations, findings = read(path)
    assert [c.line for c in conversations] == [1]
    assert [f.code for f in findings] == ["file.bom"]


def test_json_lines_named_json_are_read_line_by_line(tmp_path):
    path = tmp_path / "lines.json"
    path.write_text("\n".join(json.dumps(call_record("{}")) for _ in range(3)) + "\n{broken\n")
    conversations, findings = read(path)
    assert [c.line for c in conversations] == [1, 2, 3]
    assert [(f.code, f.line) for f in findings] == [("json.invalid", 4)]


@pytest.mark.parametrize(
    ("document", "described"),
    [
        ({"get_tools": {}, "a": 1, "b": 2, "c": 3, "d": 4}, "an object with keys get_tools, a, b, c, …"),
        ([{"id": "case-1", "question": "?"}] * 44, "a list of 44 item(s)"),
        ("just a string", "str"),
    ],
)
def test_a_document_without_conversations_is_one_warning(tmp_path, document, described):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(document, indent=2))
    conversations, findings = read(path)
    assert conversations == []
    assert [(f.code, f.severity, f.line) for f in findings] == [("file.not_conversations", "warning", 1)]
    assert described in findings[0].message


def test_an_invalid_document_is_one_error_with_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"conversations": []},\n  {"conversations": [}\n]')
    conversations, findings = read(path)
    assert conversations == []
    assert [(f.code, f.line, f.column) for f in findings] == [("json.invalid", 3, 22)]


def test_invalid_utf8_and_unknown_format(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'[{"conversations": [{"role": "user", "content": "caf\xe9"}]}]')
    conversations, findings = read(path)
    assert conversations[0].messages[0].content == "caf\ufffd"
    assert [f.code for f in findings] == ["encoding.invalid_utf8", "conversation.no_assistant"]
    with pytest.raises(ToolsetError, match="unknown data format"):
        read(path, format="csv")
    with pytest.raises(ToolsetError, match="file not found"):
        read(tmp_path / "missing.json")


def test_upstream_json_files_are_one_finding_each(upstream_data):
    from toolset_schemas.validator import validate_files

    report = validate_files([upstream_data], jobs=2)
    by_source: dict[str, list[str]] = {}
    for finding in report.findings:
        by_source.setdefault(finding.source, []).append(finding.code)
    json_files = sorted(str(p) for p in upstream_data.rglob("*.json"))
    assert len(json_files) == 3  # tool_schemas.json and two evaluator prompt sets
    for source in json_files:
        assert by_source[source] == ["file.not_conversations"]
    assert "json.invalid" not in {f.code for f in report.findings}
