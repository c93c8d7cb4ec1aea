"""``toolset quickstart`` end to end on the embedded model, and its resume."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.llama_cpp]


def quickstart(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-c", "from toolset.cli import main; main()", "quickstart", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_quickstart_runs_every_available_stage_and_resumes(tmp_path):
    output = tmp_path / "qs"
    first = quickstart("--output", str(output), "--eval-cases", "2")
    for stage in ("[1/7] validate:", "[2/7] model:", "[5/7] export:", "[6/7] evaluate:", "Summary"):
        assert stage in first.stdout
    state = json.loads((output / "state.json").read_text())
    assert {"validate", "model", "export", "evaluate"} <= set(state)
    assert (output / "gguf" / "smollm2-q8_0.gguf").stat().st_size > 100_000_000
    assert (output / "ollama" / "Modelfile").read_text().startswith("FROM ./smollm2-q8_0.gguf")
    report = json.loads((output / "eval-base" / "report.json").read_text())
    assert report["summary"]["cases"] == 2
    again = quickstart("--output", str(output), check=False)
    assert again.returncode == 1 and "add --resume" in again.stderr
    resumed = quickstart("--output", str(output), "--resume")
    assert resumed.stdout.count("done earlier") >= 4
