"""Ollama Modelfile (rendered with Go's text/template, Ollama's engine) and the LM Studio layout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from toolset.errors import ToolsetError
from toolset.local_apps import (
    FAMILIES,
    LMStudioConfig,
    OllamaConfig,
    detect_family,
    export_lmstudio,
    export_ollama,
    modelfile_text,
)

RENDERER = Path(__file__).parent / "ollama_render" / "main.go"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_notes",
            "description": "Search notes",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    }
]
CONVERSATION = [
    {"role": "user", "content": "Find my notes about groceries"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "search_notes", "arguments": {"query": "groceries"}}}],
    },
    {"role": "tool", "content": '{"titles": ["Groceries"]}'},
    {"role": "user", "content": "Thanks, and about travel?"},
]


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain (apt-get install golang-go): Ollama TEMPLATEs are Go templates")
    binary = tmp_path_factory.mktemp("render") / "render"
    subprocess.run(
        ["go", "build", "-o", str(binary), str(RENDERER)],
        check=True,
        capture_output=True,
        timeout=300,
        env={**__import__("os").environ, "GOCACHE": str(binary.parent / "cache"), "GO111MODULE": "off"},
    )

    def run(template: str, messages: list, tools: list | None = None, system: str = "") -> str:
        request = {"template": template, "system": system, "messages": messages, "tools": tools or []}
        result = subprocess.run([str(binary)], input=json.dumps(request), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def template_of(modelfile: str) -> str:
    return modelfile.split('TEMPLATE """', 1)[1].split('"""', 1)[0]


def test_chatml_template_renders_tools_and_tool_calls(render):
    text = render(FAMILIES["chatml"][0], CONVERSATION, TOOLS, system="You manage a vault.")
    assert text.startswith("<|im_start|>system\nYou manage a vault.\n\nAvailable tools")
    assert '{"type": "function", "function": {"name":"search_notes"' in text
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "search_notes", "arguments": {"query":"groceries"}}\n'
        "</tool_call><|im_end|>" in text
    )
    assert '<|im_start|>user\n<tool_response>\n{"titles": ["Groceries"]}\n</tool_response><|im_end|>' in text
    assert text.endswith("<|im_start|>user\nThanks, and about travel?<|im_end|>\n<|im_start|>assistant\n")


def test_chatml_without_tools_is_plain_chat(render):
    text = render(FAMILIES["chatml"][0], [{"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("family", ["mistral", "llama3"])
def test_other_families_render_tool_calls(render, family):
    text = render(FAMILIES[family][0], CONVERSATION, TOOLS, system="sys")
    assert "search_notes" in text and '"groceries"' in text
    assert "Thanks, and about travel?" in text


def test_modelfile_has_template_stops_and_gguf(tmp_path, render):
    gguf = tmp_path / "model-q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    out = export_ollama(gguf, tmp_path / "ollama", OllamaConfig(family="chatml", temperature=0.0, system="Be brief."))
    modelfile = out.read_text()
    assert modelfile.startswith("FROM ./model-q8_0.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "PARAMETER temperature 0.0" in modelfile
    assert 'SYSTEM """Be brief."""' in modelfile
    assert (tmp_path / "ollama" / "model-q8_0.gguf").read_bytes() == b"GGUF"
    assert "<tool_call>" in render(template_of(modelfile), CONVERSATION, TOOLS)


def test_family_detection_and_errors(tmp_path):
    assert detect_family("{{ '<|im_start|>' + message['role'] }}") == "chatml"
    assert detect_family("[INST] {{ m }} [/INST]") == "mistral"
    assert detect_family("<|start_header_id|>") == "llama3"
    with pytest.raises(ToolsetError, match="cannot tell"):
        detect_family("plain")
    with pytest.raises(ToolsetError, match="unknown template family"):
        modelfile_text("m.gguf", "alpaca", OllamaConfig())
    with pytest.raises(ToolsetError, match="a .gguf file is expected"):
        export_ollama(tmp_path / "missing.gguf", tmp_path)


def test_lmstudio_layout(tmp_path):
    gguf = tmp_path / "claudesidian-3b-q4_k_m.gguf"
    gguf.write_bytes(b"GGUF")
    target = export_lmstudio(gguf, None, LMStudioConfig(models_dir=str(tmp_path / "models")))
    assert target == tmp_path / "models" / "toolset" / "claudesidian-3b" / gguf.name
    assert target.read_bytes() == b"GGUF"
    with pytest.raises(ToolsetError, match="already exists"):
        export_lmstudio(gguf, tmp_path / "models")
    assert export_lmstudio(gguf, tmp_path / "models", LMStudioConfig(overwrite=True, model="x")).parent.name == "x"


# Keys in the order Go's encoding/json writes them (struct fields in order, map keys sorted), so that the only
# difference left between Ollama's rendering and the training template's is JSON spacing.
MISTRAL_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_notes",
            "description": "Search the vault",
            "parameters": {"properties": {"query": {"type": "string"}}, "required": ["query"], "type": "object"},
        },
    },
    {"type": "function", "function": {"name": "read_note", "description": "Read a note", "parameters": {}}},
]
CALL = {"function": {"name": "search_notes", "arguments": {"query": "groceries"}}}
MISTRAL_CASES = {
    "multi-turn": ([*CONVERSATION[:3], {"role": "assistant", "content": "One note."}, *CONVERSATION[3:]], "Be brief."),
    "after a tool result": (CONVERSATION[:3], "Be brief."),
    "two calls at once": (
        [
            {"role": "user", "content": "Find and read"},
            {"role": "assistant", "content": "", "tool_calls": [CALL, CALL]},
        ],
        "",
    ),
    "plain chat": (
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, *CONVERSATION[3:]],
        "",
    ),
    "quotes in a tool result": ([*CONVERSATION[:2], {"role": "tool", "content": 'say "hi"\n\\ok'}], ""),
}


@pytest.mark.parametrize("case", MISTRAL_CASES)
def test_mistral_template_renders_like_the_training_template(render, case):
    """Ollama's prompt for a Mistral-family model is the one toolset's Mistral training template wrote."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from toolset.chat_templates import load

    messages, system = MISTRAL_CASES[case]
    tools = MISTRAL_TOOLS if case != "plain chat" else []
    ollama = render(FAMILIES["mistral"][0], messages, tools, system=system)
    trained = render_jinja_template(
        [([{"role": "system", "content": system}] if system else []) + messages],
        tools=tools or None,
        chat_template=load("mistral"),
        add_generation_prompt=True,
        bos_token="<s>",
        eos_token="</s>",
    )
    trained = trained[0] if isinstance(trained, tuple) else trained
    trained = trained[0] if isinstance(trained, list) else trained
    for value in [tool["function"] for tool in tools] + [CALL["function"]["arguments"]]:
        trained = trained.replace(json.dumps(value), json.dumps(value, separators=(",", ":")))  # Go's spacing
    if messages[-1]["role"] == "assistant":
        ollama += "</s>"  # Ollama leaves the last assistant turn open, to be continued
    assert ollama == trained.removeprefix("<s>")  # llama.cpp adds BOS as a token
    assert ollama.count("[AVAILABLE_TOOLS]") == (1 if tools else 0)
    if case == "two calls at once":
        call = '{"name": "search_notes", "arguments": {"query":"groceries"}}'
        assert ollama.endswith(f"[TOOL_CALLS] [{call}, {call}]</s>")
