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


def test_quickstart_runs_every_stage_and_resumes(tmp_path):
    output = tmp_path / "qs"
    first = quickstart("--output", str(output), "--eval-cases", "2", "--sft-steps", "2", "--kto-steps", "1")
    for stage in (
        "[1/7] validate:",
        "[2/7] model:",
        "[3/7] train-sft:",
        "[4/7] train-kto:",
        "[5/7] export:",
        "[6/7] evaluate:",
        "[7/7] loss-curve:",
        "Summary",
        "What training changed (claudesidian-quick, base -> tuned)",
        "passed the whole case",
        "per agent, cases reaching each rung (base -> tuned):",
    ):
        assert stage in first.stdout
    assert ": skipped -" not in first.stdout
    state = json.loads((output / "state.json").read_text())
    assert list(state) == ["validate", "model", "train-sft", "train-kto", "export", "evaluate", "loss-curve"]
    assert json.loads((output / "kto" / "lineage.json").read_text())["parent_run"] == str(output / "sft")
    for name in ("smollm2-q8_0.gguf", "smollm2-tuned-q8_0.gguf"):
        assert (output / "gguf" / name).stat().st_size > 100_000_000
    assert (output / "ollama" / "Modelfile").read_text().startswith("FROM ./smollm2-tuned-q8_0.gguf")
    assert (output / "loss.png").read_bytes()[:4] == b"\x89PNG"
    for label in ("base", "tuned"):
        report = json.loads((output / f"eval-{label}" / "report.json").read_text())
        assert report["summary"]["cases"] == 2
        assert not [r for r in report["records"] if any(x["code"] == "backend.error" for x in r["reasons"])]
    again = quickstart("--output", str(output), check=False)
    assert again.returncode == 1 and "add --resume" in again.stderr
    resumed = quickstart("--output", str(output), "--resume")
    assert resumed.stdout.count("done earlier") >= 4
