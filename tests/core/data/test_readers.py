"""Readers and writers: every format, the real-world mess as findings, round trips, streaming, real data."""

from __future__ import annotations

import json
import types

import pytest

from toolset.data import Conversation, Message, ToolCall
from toolset.data.readers import detect_format, read_conversations, sample_path, summarize
from toolset.data.writers import write_conversations
from toolset.errors import ToolsetError

CONTEXT = {"sessionId": "session_1732300800000_abcdefghi", "workspaceId": "default"}


def write(tmp_path, lines, name="data.jsonl", raw=None):
    path = tmp_path / name
    path.write_bytes(raw if raw is not None else ("\n".join(json.dumps(line) for line in lines) + "\n").encode())
    return path


def call_record(arguments):
    return {
        "conversations": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "make a folder"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "vaultManager_createFolder", "arguments": arguments},
                    }
                ],
            },
        ],
        "label": True,
        "behavior": "demo",
    }


def test_conversations_format_with_string_and_object_arguments(tmp_path):
    args = {"context": CONTEXT, "path": "Projects"}
    path = write(tmp_path, [call_record(json.dumps(args)), call_record(args)])
    first, second = list(read_conversations(path))
    assert first.tool_calls[0].arguments == args == second.tool_calls[0].arguments
    assert list(first.tool_calls[0].arguments) == ["context", "path"]  # key order kept
    assert first.label is True and first.metadata == {"behavior": "demo", "source": str(path), "line": 1}
    assert detect_format(path) == "conversations"


def test_messages_format_multi_turn(tmp_path):
    record = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "a", "function": {"name": "t", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "a", "content": '{"ok": true}'},
            {"role": "assistant", "content": "done"},
        ]
    }
    (conversation,) = read_conversations(write(tmp_path, [record]))
    assert [m.role for m in conversation.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert conversation.messages[3].tool_call_id == "a"
    assert detect_format(tmp_path / "data.jsonl") == "messages"


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        ('<tool_call>{"name": "t", "arguments": {"a": 1}}</tool_call>', "hermes"),
        ('[TOOL_CALLS] [{"name": "t", "arguments": {"a": 1}}]', "mistral"),
        ('tool_call: t\narguments: {"a": 1}', "text"),
    ],
)
def test_calls_written_in_assistant_text(tmp_path, content, fmt):
    record = {"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]}
    path = write(tmp_path, [record])
    assert detect_format(path) == fmt
    (conversation,) = read_conversations(path)
    assert conversation.tool_calls == [ToolCall(name="t", arguments={"a": 1}, id=conversation.tool_calls[0].id)]


def test_text_style_result_and_reply_become_messages(tmp_path):
    content = 'tool_call: t\narguments: {"a": 1}\n\nResult: {"ok": true}\n\nAll done.'
    record = {"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]}
    (conversation,) = read_conversations(write(tmp_path, [record]))
    assert [m.role for m in conversation.messages] == ["user", "assistant", "tool", "assistant"]
    assert json.loads(conversation.messages[2].content) == {"ok": True}
    assert conversation.messages[3].content == "All done."


def test_mess_is_reported_never_raised(tmp_path):
    good = json.dumps(call_record({"context": CONTEXT, "path": "x"}))
    no_assistant = json.dumps({"conversations": [{"role": "user", "content": "hi"}]})
    bad_args = json.dumps(call_record("{not json"))
    raw = (
        b"\xef\xbb\xbf"
        + good.encode()
        + b"\r\n\r\n"
        + b'{"conversations": [\n'
        + no_assistant.encode()
        + b"\n"
        + bad_args.encode()
        + b"\n"
        + good.encode().replace(b"make", b"m\xffke")
        + b"\n"
        + json.dumps({"conversations": [{"role": "assistant", "content": None}]}).encode()
    )
    findings = []
    conversations = list(read_conversations(write(tmp_path, [], raw=raw), findings=findings))
    assert len(conversations) == 5
    codes = {f.code: f for f in findings}
    assert {
        "file.bom",
        "line.crlf",
        "line.blank",
        "json.invalid",
        "conversation.no_assistant",
        "arguments.invalid_json",
        "encoding.invalid_utf8",
        "message.null_content",
        "file.no_final_newline",
    } <= set(codes)
    assert (codes["json.invalid"].line, codes["json.invalid"].column) == (3, 20)
    assert codes["arguments.invalid_json"].line == 5
    assert codes["arguments.invalid_json"].field == "conversations[2].tool_calls[0].arguments"
    assert conversations[2].tool_calls[0].raw_arguments == "{not json"
    assert "byte offset" in codes["encoding.invalid_utf8"].message
    summary = summarize(findings, len(conversations))
    assert summary.conversations == 5 and summary.findings["json.invalid"] == 1


def test_clear_errors_for_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(ToolsetError, match="file not found"):
        list(read_conversations(tmp_path / "missing.jsonl"))
    with pytest.raises(ToolsetError, match="unknown data format"):
        list(read_conversations(write(tmp_path, [{}]), format="csv"))


@pytest.mark.parametrize("fmt", ["conversations", "messages", "text"])
def test_round_trip(tmp_path, fmt):
    original = Conversation(
        messages=[
            Message(role="system", content="s"),
            Message(role="user", content="u"),
            Message(role="assistant", tool_calls=[ToolCall(name="t", arguments={"b": 2, "a": 1}, id="call_1_0")]),
            Message(role="tool", content='{"ok": true}', tool_call_id="call_1_0"),
            Message(role="assistant", content="done"),
        ],
        label=False,
        metadata={"behavior": "x"},
    )
    path = tmp_path / f"out-{fmt}.jsonl"
    assert write_conversations([original], path, format=fmt) == 1
    (back,) = read_conversations(path)
    assert [m.role for m in back.messages] == [m.role for m in original.messages]
    assert back.tool_calls[0].name == "t" and list(back.tool_calls[0].arguments) == ["b", "a"]
    assert back.label is False and back.metadata["behavior"] == "x"


def test_reading_streams(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps(call_record({"context": CONTEXT, "path": "x"}))
    path.write_text("\n".join([line] * 50_000) + "\n")
    stream = read_conversations(path)
    assert isinstance(stream, types.GeneratorType)
    assert next(stream).line == 1
    assert sum(1 for _ in stream) == 49_999


def test_bundled_samples():
    sft = list(read_conversations(sample_path("claudesidian_sft.jsonl")))
    kto = list(read_conversations(sample_path("claudesidian_kto.jsonl")))
    assert len(sft) >= 15 and all(c.tool_calls for c in sft)
    assert {c.label for c in kto} == {True, False}


def test_real_upstream_files(upstream_data):
    files = sorted((upstream_data / "Datasets").rglob("*.jsonl"))
    assert files
    findings, total = [], 0
    for path in files:
        total += sum(1 for _ in read_conversations(path, findings=findings))
    codes = {f.code for f in findings}
    assert total > 5000
    assert {"line.crlf", "conversation.no_assistant", "file.no_final_newline"} <= codes
    crlf = {f.source for f in findings if f.code == "line.crlf"}
    assert any(source.endswith("agentManager/tools_v1.3.jsonl") for source in crlf)


def test_to_dataset():
    datasets = pytest.importorskip("datasets")
    from toolset.data.readers import to_dataset

    conversations = list(read_conversations(sample_path("claudesidian_kto.jsonl")))
    dataset = to_dataset(conversations)
    assert isinstance(dataset, datasets.Dataset) and len(dataset) == len(conversations)
    assert {"messages", "label"} <= set(dataset.column_names)
    first = dataset[0]
    assert [m["role"] for m in first["messages"]] == [m.role for m in conversations[0].messages]
    assert first["label"] == conversations[0].label
    calls = [c for row in dataset for m in row["messages"] for c in (m["tool_calls"] or [])]
    assert calls and all(json.loads(c["function"]["arguments"]) is not None for c in calls)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('tool_call: A\narguments: {"[TOOL_CALLS]": null, "b": "<tool_call>"}', "text"),
        ('<tool_call>\n{"name": "A", "arguments": {"x": "[TOOL_CALLS]"}}\n</tool_call>', "hermes"),
        ('Sure. [TOOL_CALLS][{"name": "A", "arguments": {"x": "<tool_call>"}}]', "mistral"),
    ],
)
def test_detection_goes_by_the_first_call_marker(tmp_path, content, expected):
    """A call's arguments may hold another style's marker as text: the marker that comes first decides."""
    path = tmp_path / "data.jsonl"
    record = {"conversations": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": content}]}
    path.write_text(json.dumps(record) + "\n")
    assert detect_format(path) == expected
    [conversation] = read_conversations(path)
    assert [call.name for call in conversation.tool_calls] == ["A"]
