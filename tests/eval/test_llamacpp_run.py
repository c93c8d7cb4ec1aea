"""One real evaluation run: the llamacpp backend on the embedded SmolLM2 over three smoke cases."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from toolset_eval.scoring import REASONS


@pytest.mark.llama_cpp
@pytest.mark.slow
def test_real_run_on_the_embedded_model_writes_a_complete_report(fresh_plugins, embedded_gguf_path, tmp_path):
    from toolset.cli import cli

    fresh_plugins.add_commands(cli)
    arguments = ["eval", "run", "--backend", "llamacpp", "--prompt-set", "claudesidian-smoke", "--limit", "3"]
    arguments += ["--concurrency", "1", "--no-progress", "--output", str(tmp_path)]
    arguments += ["--option", "n_ctx=8192", "--option", "max_tokens=64"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["metadata"]["backend"] == "llamacpp" and report["metadata"]["sampling"]["seed"] == 0
    assert report["summary"]["cases"] == 3 == len(report["records"])
    assert report["summary"]["latency_p50_s"] > 0
    for record in report["records"]:
        assert record["raw"]["content"] or record["raw"]["tool_calls"]
        assert all(reason["code"] in REASONS for reason in record["reasons"])
        assert record["passed"] == (not record["reasons"])
    assert (tmp_path / "report.md").read_text().startswith("# Evaluation:")
    assert (tmp_path / "accuracy_by_agent.png").stat().st_size > 0
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 3


@pytest.mark.llama_cpp
@pytest.mark.slow
def test_model_names_the_gguf_file_of_the_in_process_backend(fresh_plugins, embedded_gguf_path, tmp_path):
    """``--model FILE.gguf`` is a user's first guess for llamacpp; it sets the backend's ``model_path``."""
    from toolset.cli import cli

    fresh_plugins.add_commands(cli)
    arguments = ["eval", "run", "--backend", "llamacpp", "--model", str(embedded_gguf_path), "--limit", "1"]
    arguments += ["--prompt-set", "claudesidian-smoke"]
    arguments += ["--concurrency", "1", "--no-progress", "--output", str(tmp_path), "--option", "max_tokens=16"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code in (0, 1) and "has no 'model' setting" not in result.output, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["cases"] == 1


def test_model_fills_the_setting_each_backend_has():
    from toolset_eval.backend_config import LlamaCppConfig, OllamaConfig
    from toolset_eval.evaluation import _set_field

    assert _set_field(LlamaCppConfig(), "model", "m.gguf", "backend llamacpp").model_path == "m.gguf"
    assert _set_field(OllamaConfig(), "model", "qwen", "backend ollama").model == "qwen"
    with pytest.raises(Exception, match="backend llamacpp has no 'host' setting"):
        _set_field(LlamaCppConfig(), "host", "h", "backend llamacpp")
