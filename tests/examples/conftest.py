"""What the notebook and the script example must leave behind: checked the same way for both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def check_pipeline_output(output: Path, *, sft_steps: int, kto_steps: int, eval_cases: int) -> None:
    sft, kto = output / "sft", output / "kto"
    assert (sft / "final_model" / "adapter_config.json").is_file()
    assert json.loads((sft / "final_model" / "toolset.json").read_text())["steps"] == sft_steps
    assert json.loads((kto / "final_model" / "toolset.json").read_text())["steps"] == kto_steps
    assert json.loads((kto / "lineage.json").read_text())["parent_run"] == str(sft)
    assert (output / "merged" / "model.safetensors").is_file()
    for name in ("base-q8_0.gguf", "tuned-q8_0.gguf"):
        assert (output / "gguf" / name).stat().st_size > 100_000_000
    assert json.loads((output / "gguf" / "tuned-q8_0.gguf.verify.json").read_text())["detail"]
    assert (output / "ollama" / "Modelfile").read_text().startswith("FROM ./tuned-q8_0.gguf")
    assert (output / "loss.png").read_bytes()[:4] == b"\x89PNG"
    for label in ("base", "tuned"):
        report = json.loads((output / f"eval-{label}" / "report.json").read_text())
        assert report["summary"]["cases"] == eval_cases
        assert report["metadata"]["backend"] == "llamacpp"
        assert report["metadata"]["tools_offered"] == "none"
        errors = [r["id"] for r in report["records"] if any(x["code"] == "backend.error" for x in r["reasons"])]
        assert not errors, f"{label}: the backend failed on {errors}"


@pytest.fixture
def pipeline_output():
    return check_pipeline_output
