"""The environment, said plainly (#19): a cache that is a file, a plugin left out by the filter variables, a
typo in them, outputs that cannot be written; each a sentence, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from toolset.errors import ToolsetError


def toolset(*args, env=None, cwd=None):
    import os

    return subprocess.run(
        [sys.executable, "-m", "toolset", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_a_cache_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    from toolset.weights.models import cache_folder

    (tmp_path / "cache").write_text("")
    monkeypatch.setenv("TOOLSET_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolsetError, match="a file is in the way.*set TOOLSET_CACHE_DIR to a folder you can write"):
        cache_folder("models")


def test_a_filtered_out_plugin_says_why_its_command_is_missing(tmp_path):
    pytest.importorskip("toolset_schemas")
    for variable, value in (("TOOLSET_DISABLE_PLUGINS", "toolset-schemas"), ("TOOLSET_LOAD_PLUGINS", "toolset-eval")):
        done = toolset("validate", "x.jsonl", env={variable: value})
        assert done.returncode == 2 and "Traceback" not in done.stderr
        expected = "No such command 'validate': it comes from plugin toolset-schemas (toolset-schemas), which"
        assert f"{expected} {variable} leaves out." in done.stderr, done.stderr


def test_a_typo_in_the_filter_variables_is_reported():
    done = toolset("--version", env={"TOOLSET_LOAD_PLUGINS": "toolset-evall"})
    assert "TOOLSET_LOAD_PLUGINS names toolset-evall, which no installed plugin is" in done.stderr
    assert "toolset, version" in done.stdout
    assert "names" not in toolset("--version", env={"TOOLSET_LOAD_PLUGINS": "toolset-eval"}).stderr


def test_outputs_that_cannot_be_written_fail_before_the_work(tmp_path):
    pytest.importorskip("toolset_schemas")
    from toolset.data.readers import sample_path

    done = toolset("coverage", str(sample_path("claudesidian_sft.jsonl")), "--plot", str(tmp_path / "out.txt"))
    assert done.returncode == 2 and "--plot" in done.stderr and "name an image file" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""  # refused before the report
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps({"tools": [{"name": "ping", "inputSchema": {"type": "object"}}]}))
    (tmp_path / "taken").write_text("")
    done = toolset("schemas", "import-mcp", str(tools), "--output", str(tmp_path / "taken"))
    assert done.returncode == 1 and "--output" in done.stderr and "a file" in done.stderr
    assert "Traceback" not in done.stderr
