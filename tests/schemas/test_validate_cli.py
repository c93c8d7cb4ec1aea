"""`toolset validate` on files: exit codes, KTO labels, --strict, --json and clear errors."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from .conftest import BULLET_PROMPT, context

pytest.importorskip(
    "toolset.data.readers", reason="the core conversation reader (toolset.data.readers) is not there yet"
)


def record(name="vaultManager_createFolder", label=None, **arguments):
    arguments = {"context": context(), **(arguments or {"path": "Notes"})}
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        ],
    }
    line = {
        "conversations": [
            {"role": "system", "content": BULLET_PROMPT},
            {"role": "user", "content": "Make a Notes folder."},
            assistant,
        ]
    }
    if label is not None:
        line["label"] = label
    return json.dumps(line)


def write(tmp_path, *lines, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def validate(*args):
    from toolset.cli import cli
    from toolset.plugins import add_commands

    add_commands(cli)
    return CliRunner().invoke(cli, ["validate", *map(str, args)])


def test_valid_file_exits_0(tmp_path):
    result = validate(write(tmp_path, record(), record("vaultManager_openNote", path="a.md")))
    assert result.exit_code == 0, result.output
    assert "2 conversation(s), 2 tool call(s) in 1 file(s)" in result.output
    assert "2 valid (100.0%)" in result.output


def test_errors_exit_1_with_file_line_and_field(tmp_path):
    path = write(tmp_path, record(), record("vaultManager_openNote", path="a.md", mode="splitview"))
    result = validate(path)
    assert result.exit_code == 1
    assert f"{path}:2: error bad-enum [tool_calls[0].arguments.mode]" in result.output
    assert re.search(r"^finding code +severity +count$", result.output, re.M)  # the summary table
    assert re.search(r"^bad-enum +error +1$", result.output, re.M)
    assert re.search(r"^vaultManager_openNote +1$", result.output, re.M)


def test_kto_label_false_errors_do_not_fail(tmp_path):
    good, bad = record(label=True), record("vaultManager_createFoldr", label=False)
    result = validate(write(tmp_path, good, bad), "--show-expected")
    assert result.exit_code == 0, result.output
    assert "1/1 label=true line(s) valid; 1/1 label=false line(s)" in result.output
    assert "info unknown-tool" in result.output
    desirable_bad = validate(write(tmp_path, record("vaultManager_createFoldr", label=True), name="b.jsonl"))
    assert desirable_bad.exit_code == 1


def test_strict_turns_unexpected_parameters_into_errors(tmp_path):
    path = write(tmp_path, record("vaultManager_deleteNote", path="a.md", permanent=True))
    assert validate(path).exit_code == 0
    strict = validate(path, "--strict")
    assert strict.exit_code == 1 and "error unexpected-parameter" in strict.output


def test_json_output(tmp_path):
    path = write(tmp_path, record(), record("nope"))
    result = validate(path, "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["summary"]["conversations"] == 2 and data["summary"]["by_code"] == {"unknown-tool": 1}
    (finding,) = data["findings"]
    assert finding["line"] == 2 and finding["field"] == "tool_calls[0].name" and finding["severity"] == "error"


def test_folder_input_and_clear_errors(tmp_path):
    write(tmp_path, record(), name="a.jsonl")
    write(tmp_path, record(), name="b.jsonl")
    assert "in 2 file(s)" in validate(tmp_path).output
    # could not run: exit 2, one line on stderr, nothing on stdout
    missing = validate(tmp_path / "missing.jsonl")
    assert missing.exit_code == 2 and "missing.jsonl: no such file or folder" in missing.stderr
    unknown = validate(tmp_path / "a.jsonl", "--toolset", "claudesidan")
    assert unknown.exit_code == 2 and "claudesidian" in unknown.stderr
    bad_format = validate(tmp_path / "a.jsonl", "--format", "csv", "--json")
    assert bad_format.exit_code == 2 and "unknown data format" in bad_format.stderr and not bad_format.stdout
    assert "Traceback" not in missing.output + unknown.output + bad_format.output


def test_progress_bar_goes_to_stderr_only(tmp_path):
    path = write(tmp_path, *[record()] * 30)
    result = validate(path, "--json", "--progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["conversations"] == 30  # stdout is pure JSON
    assert "data.jsonl" in result.stderr and "/30 " in result.stderr
    quiet = validate(path, "--json")  # auto: stderr is not a terminal here
    assert quiet.stderr == ""


def test_progress_follows_line_numbers(tmp_path):
    import io

    from toolset.data.readers import read_conversations
    from toolset_schemas.validator import count_lines, with_progress

    path = write(tmp_path, record(), "", record(), "{bad")  # a blank and a broken line are counted too
    assert count_lines(path) == 4
    path.write_text(path.read_text().rstrip("\n"))
    assert count_lines(path) == 4
    stream = io.StringIO()
    assert len(list(with_progress(read_conversations(path), path, stream))) == 2
    assert "/4 " in stream.getvalue()


def test_a_file_without_conversations_says_so(tmp_path):
    path = write(tmp_path, '{"id": "case-1"}', name="cases.jsonl")
    result = validate(path)
    assert result.exit_code == 1  # the line has no messages: an error
    assert "0 conversation(s)" in result.output and "nothing to check (no conversation was read)" in result.output
    assert "(100.0%)" not in result.output
