"""An unexpected exception in a command is one line naming the command, its arguments and the exception, with
the traceback in a log file (exit 2); --debug / TOOLSET_DEBUG=1 prints it; Ctrl-C exits 130."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from toolset.cli import ToolsetGroup, cli


@pytest.fixture
def group(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLSET_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TOOLSET_DEBUG", raising=False)
    group = ToolsetGroup()

    @group.command()
    @click.argument("name")
    def boom(name):
        raise RuntimeError(f"cannot {name}")

    @group.command()
    def interrupted():
        raise KeyboardInterrupt

    return group


def test_an_unexpected_error_is_one_line_and_a_log(group, tmp_path):
    result = CliRunner().invoke(group, ["boom", "notes.jsonl"])
    assert result.exit_code == 2, result.output
    assert "unexpected error in `toolset boom notes.jsonl`: RuntimeError: cannot notes.jsonl" in result.output
    assert "Traceback" not in result.output and "--debug" in result.output
    [log] = (tmp_path / "logs").glob("crash-*.log")
    assert str(log) in result.output
    text = log.read_text()
    assert text.startswith("toolset boom notes.jsonl") and "Traceback" in text and "cannot notes.jsonl" in text


def test_debug_prints_the_traceback(group, monkeypatch):
    monkeypatch.setenv("TOOLSET_DEBUG", "1")
    result = CliRunner().invoke(group, ["boom", "x"])
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "cannot x"


def test_the_debug_option_of_the_toolset_command(monkeypatch):
    monkeypatch.delenv("TOOLSET_DEBUG", raising=False)
    assert "--debug" in CliRunner().invoke(cli, ["--help"]).output
    result = CliRunner().invoke(cli, ["--debug", "plugins", "--json"])
    assert result.exit_code == 0
    import os

    assert os.environ.get("TOOLSET_DEBUG") == "1"
    monkeypatch.delenv("TOOLSET_DEBUG")


def test_a_log_that_cannot_be_written_says_so(group, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TOOLSET_CACHE_DIR", str(tmp_path / "file"))  # a file where a folder should be
    result = CliRunner().invoke(group, ["boom", "x"])
    assert result.exit_code == 2 and "the traceback could not be written to" in result.output


def test_ctrl_c_exits_130(group):
    result = CliRunner().invoke(group, ["interrupted"])
    assert result.exit_code == 130 and "interrupted" in result.output
