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
    for line in (
        "[validate] ",
        "[sft] training",
        "[kto] training",
        "[export] merged (merged-16bit):",
        "[export] gguf q8_0:",
        "[export] base model, gguf q8_0:",
        "[eval-base] ",
        "[eval] ",
        "Summary",
        "What training changed (claudesidian-quick, base -> tuned)",
        "passed the whole case",
        "per agent, cases reaching each rung (base -> tuned):",
    ):
        assert line in first.stdout
    assert ": skipped -" not in first.stdout
    state = json.loads((output / "pipeline.json").read_text())["stages"]  # one orchestrator, one state file
    assert list(state) == ["validate", "sft", "kto", "export-merged", "export-gguf", "export-base", "eval-base", "eval"]
    assert not (output / "state.json").exists()
    assert json.loads((output / "kto" / "lineage.json").read_text())["parent_run"] == str(output / "sft")
    for name in ("base-q8_0.gguf", "model-q8_0.gguf"):
        assert (output / "export" / "gguf" / name).stat().st_size > 100_000_000
    assert (output / "export" / "ollama" / "Modelfile").read_text().startswith("FROM ./model-q8_0.gguf")
    assert (output / "loss.png").read_bytes()[:4] == b"\x89PNG"
    for folder in ("eval-base", "eval"):
        report = json.loads((output / folder / "report.json").read_text())
        assert report["summary"]["cases"] == 2
        assert not [r for r in report["records"] if any(x["code"] == "backend.error" for x in r["reasons"])]
    assert report["metadata"]["tools_trained"] == "none"  # the tuned model's offer is recorded; the base has none
    again = quickstart("--output", str(output), check=False)
    assert again.returncode == 1 and "add --resume" in again.stderr
    resumed = quickstart("--output", str(output), "--resume")
    assert resumed.stdout.count("done earlier") >= 4
