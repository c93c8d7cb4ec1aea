"""Tool-call arguments no MCP client could take are findings with file, line and field, in every call style —
never a traceback: numbers too long for Python's int, nesting too deep, NaN / Infinity / 1e400."""

from __future__ import annotations

import json
import re

import pytest

from toolset.data.readers import NON_FINITE, read_conversations

from .test_readers import call_record, write

HUGE = "1" * 5000
DEEP = "[" * 50_000 + "]" * 50_000
BAD = {
    "huge integer": (f'{{"n": {HUGE}}}', "a number too long to read"),
    "deep nesting": (f'{{"n": {DEEP}}}', "nested too deeply"),
    "NaN": ('{"n": NaN}', NON_FINITE),
    "Infinity": ('{"n": -Infinity}', NON_FINITE),
    "1e400": ('{"n": 1e400}', NON_FINITE),
}


def styles(arguments: str) -> dict[str, str]:
    """One assistant turn per call style, each carrying ``arguments`` (JSON text)."""
    return {
        "hermes": f'<tool_call>{{"name": "t", "arguments": {arguments}}}</tool_call>',
        "mistral": f'[TOOL_CALLS] [{{"name": "t", "arguments": {arguments}}}]',
        "text": f"tool_call: t\narguments: {arguments}",
    }


def only_error(findings, code="arguments.invalid_json"):
    errors = [f for f in findings if f.severity == "error"]
    assert [f.code for f in errors] == [code], errors
    return errors[0]


@pytest.mark.parametrize("kind", sorted(BAD))
def test_openai_string_arguments(tmp_path, kind):
    arguments, expected = BAD[kind]
    findings = []
    (conversation,) = read_conversations(write(tmp_path, [call_record(arguments)]), findings=findings)
    error = only_error(findings)
    assert expected in error.message and error.line == 1 and "tool_calls[0]" in error.field
    assert conversation.tool_calls[0].arguments == {} and conversation.tool_calls[0].raw_arguments == arguments


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("style", ["hermes", "mistral", "text"])
def test_calls_written_in_text(tmp_path, kind, style):
    arguments, expected = BAD[kind]
    record = {"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}
    record["conversations"][1]["content"] = styles(arguments)[style]
    findings = []
    list(read_conversations(write(tmp_path, [record]), format=style, findings=findings))
    error = only_error(findings)
    assert error.line == 1 and error.source.endswith("data.jsonl")
    if style != "mistral" or kind not in ("huge integer", "deep nesting"):
        assert expected in error.message, error.message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e400"])
def test_non_finite_numbers_in_object_arguments(tmp_path, literal):
    """``"arguments": {"n": NaN}`` parses in Python; JSON.parse refuses it, so the call is an error."""
    line = json.dumps(call_record({"n": 0})).replace('"n": 0', f'"n": {literal}')
    findings = []
    (conversation,) = read_conversations(write(tmp_path, [], raw=(line + "\n").encode()), findings=findings)
    assert NON_FINITE in only_error(findings).message
    assert conversation.tool_calls[0].arguments == {}


def test_validate_reports_them_without_a_traceback(tmp_path):
    pytest.importorskip("toolset_schemas")
    from click.testing import CliRunner

    from toolset.cli import cli

    good = call_record(json.dumps({"path": "Projects"}))
    bad = [call_record(BAD["huge integer"][0]), call_record(BAD["NaN"][0])]
    path = write(tmp_path, [good] * 2000 + bad + [good] * 2000)  # over 1 MiB: -j 2 reads it in spans
    assert path.stat().st_size > 1 << 20
    for jobs in ("1", "2"):
        result = CliRunner().invoke(cli, ["validate", str(path), "-j", jobs])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output and result.output.count("arguments.invalid_json") >= 2, result.output


def test_a_lone_surrogate_in_a_tool_name_prints_as_an_escape(tmp_path):
    """``"name": "vault\\ud800Manager"`` is valid JSON; printing it used to stop the report with UnicodeEncodeError."""
    pytest.importorskip("toolset_schemas")
    import subprocess
    import sys

    record = call_record("{}")
    record["conversations"][2]["tool_calls"][0]["function"]["name"] = "vault\ud800Manager"
    path = write(tmp_path, [record])
    done = subprocess.run([sys.executable, "-m", "toolset", "validate", str(path)], capture_output=True, text=True)
    assert "Traceback" not in done.stderr and "UnicodeEncodeError" not in done.stderr, done.stderr
    assert done.returncode == 1 and "vault\\ud800Manager" in done.stdout and "unknown-tool" in done.stdout


def test_a_key_given_twice_is_an_error_not_an_empty_conversation(tmp_path):
    good = json.dumps(call_record("{}"))
    line = good[:-1] + ', "conversations": []}'  # the same key again, at the end: readers keep the last
    findings = []
    list(read_conversations(write(tmp_path, [], raw=(line + "\n" + good + "\n").encode()), findings=findings))
    [error] = [f for f in findings if f.code == "record.duplicate_key"]
    assert error.severity == "error" and error.line == 1 and error.field == "conversations"
    assert "appears twice" in error.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("name", ["data.jsonl", "data.json"])
def test_a_utf16_file_is_one_error_that_says_so(tmp_path, encoding, name):
    text = "\n".join(json.dumps(call_record("{}")) for _ in range(5)) + "\n"
    path = write(tmp_path, [], name=name, raw=text.encode(encoding))
    findings = []
    assert list(read_conversations(path, findings=findings)) == []
    [error] = findings
    assert (error.code, error.severity, error.line) == ("encoding.utf16", "error", 1) and "UTF-8" in error.message


def test_a_pretty_printed_document_in_a_jsonl_file_is_read_as_one(tmp_path):
    records = [call_record("{}"), call_record('{"path": "x"}')]
    path = write(tmp_path, [], raw=json.dumps(records, indent=2).encode())
    findings = []
    assert len(list(read_conversations(path, findings=findings))) == 2
    assert not [f for f in findings if f.severity == "error"]
    broken = write(tmp_path, [], name="broken.jsonl", raw=json.dumps(records, indent=2)[:-3].encode())
    findings = []
    assert list(read_conversations(broken, findings=findings)) == []
    assert [f.code for f in findings] == ["json.invalid"] and findings[0].line is not None


def test_fifos_folders_and_symlink_loops_say_what_they_are(tmp_path):
    import os

    from toolset.errors import ToolsetError

    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "loop.jsonl").symlink_to(tmp_path / "loop.jsonl")
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (tmp_path / "folder.jsonl").mkdir()
    expected = {
        "pipe.jsonl": "a FIFO (named pipe), not a regular file",
        "loop.jsonl": "a symbolic link that loops back on itself",
        "dangling.jsonl": "which does not exist",
        "folder.jsonl": "a folder, not a file",
        "missing.jsonl": "file not found",
    }
    for name, message in expected.items():
        with pytest.raises(ToolsetError, match=re.escape(message)):
            list(read_conversations(tmp_path / name))
