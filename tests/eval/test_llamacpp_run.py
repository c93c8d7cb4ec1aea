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
