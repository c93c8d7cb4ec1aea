"""examples/scripts/train_and_evaluate.py: toolset as a library, validate -> SFT -> KTO -> GGUF -> eval."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "scripts" / "train_and_evaluate.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900)


def test_help_names_the_options():
    result = run("--help")
    assert result.returncode == 0, result.stderr
    for option in ("--steps", "--output", "--kto-steps", "--eval-cases", "--preset", "--sft", "--kto"):
        assert option in result.stdout


@pytest.mark.slow
@pytest.mark.llama_cpp
def test_script_runs_the_pipeline(tmp_path, pipeline_output):
    output = tmp_path / "run"
    result = run("--steps", "2", "--kto-steps", "1", "--eval-cases", "2", "--output", str(output))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    pipeline_output(output, sft_steps=2, kto_steps=1, eval_cases=2)
    for stage in ("== 1. validate", "== 2. train", "== 3. merge", "== 4. evaluate", "== 5. summary"):
        assert stage in result.stdout
    assert "sft: 2 steps" in result.stdout and "kto: 1 steps" in result.stdout
    assert "overall" in result.stdout and f"everything is under {output}" in result.stdout
