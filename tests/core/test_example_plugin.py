"""Install examples/toolset-plugin-example like a third-party distribution and use it through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "toolset-plugin-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """pip-install the example into its own folder; return an environment that puts it on the path."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {**os.environ, "PYTHONPATH": str(target)}


def toolset(env, *args):
    return subprocess.run(
        [sys.executable, "-c", "from toolset.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout


def test_example_plugin_shows_up(installed):
    infos = {info["name"]: info for info in json.loads(toolset(installed, "plugins", "--json"))}
    example = infos["toolset-plugin-example"]
    assert example["distribution"] == "toolset-plugin-example"
    assert example["registers"] == {"toolsets": ["notes"], "backends": ["keyword"]}
    assert example["errors"] == []


def test_example_toolset_and_backend_work_through_the_cli(installed):
    shown = toolset(installed, "toolsets", "show", "notes")
    assert "notes: 3 tools" in shown and "search_notes" in shown
    answer = json.loads(
        toolset(
            installed, "ask", "--backend", "keyword", "--toolset", "notes", "search my notes for 'groceries'", "--json"
        )
    )
    assert answer["tool_calls"] == [{"name": "search_notes", "arguments": {"query": "groceries"}}]
    text = toolset(
        installed, "ask", "--backend", "keyword", "--toolset", "notes", "--option", "min_score=9", "find notes"
    )
    assert text.strip() == "No tool fits this question."


def test_example_plugin_passes_its_own_conformance_tests(installed):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        env=installed,
        timeout=300,
        cwd=EXAMPLE,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
