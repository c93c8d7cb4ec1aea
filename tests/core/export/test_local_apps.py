"""Ollama Modelfile (rendered with Go's text/template, Ollama's engine) and the LM Studio layout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from toolset.errors import ToolsetError
from toolset.publish.local_apps import (
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

    from toolset.weights.chat_templates import load

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


GEMMA_CASES = {
    **MISTRAL_CASES,
    "two results in one user turn": (
        [*CONVERSATION[:2], {"role": "tool", "content": "a"}, {"role": "tool", "content": "b"}],
        "",
    ),
    "starts with a model turn": ([{"role": "assistant", "content": "Hi!"}, *CONVERSATION[3:]], "Be brief."),
}


@pytest.mark.parametrize("with_tools", [True, False], ids=["tools", "no-tools"])
@pytest.mark.parametrize("case", GEMMA_CASES)
def test_gemma_template_renders_like_the_training_template(render, case, with_tools):
    """Ollama's prompt for a Gemma 3 model is the one toolset's Gemma training template wrote."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from toolset.weights.chat_templates import load

    messages, system = GEMMA_CASES[case]
    tools = MISTRAL_TOOLS if with_tools else []
    ollama = render(FAMILIES["gemma"][0], messages, tools, system=system)
    ends_with_model = messages[-1]["role"] == "assistant"
    trained = render_jinja_template(
        [([{"role": "system", "content": system}] if system else []) + messages],
        tools=tools or None,
        chat_template=load("gemma"),
        add_generation_prompt=not ends_with_model,
        bos_token="<bos>",
        eos_token="<eos>",
    )[0][0]
    for value in [tool["function"] for tool in tools] + [CALL["function"]["arguments"]]:
        trained = trained.replace(json.dumps(value), json.dumps(value, separators=(",", ":")))  # Go's spacing
    if ends_with_model:
        ollama += "<end_of_turn>\n"  # Ollama leaves the last model turn open, to be continued
    assert ollama == trained.removeprefix("<bos>")  # llama.cpp adds BOS as a token
    assert "<start_of_turn>system" not in ollama and ollama.count("# Tools") == (1 if tools else 0)
    if case == "two results in one user turn":
        assert ollama.endswith(
            "<start_of_turn>user\n<tool_response>\na\n</tool_response>\n<tool_response>\nb\n"
            "</tool_response><end_of_turn>\n<start_of_turn>model\n"
        )


def test_gemma_modelfile_stops_and_detection(tmp_path):
    from toolset.weights.chat_templates import load

    assert detect_family(load("gemma")) == "gemma"
    gguf = tmp_path / "gemma-q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    modelfile = export_ollama(gguf, tmp_path / "ollama", OllamaConfig(family="gemma")).read_text()
    assert 'PARAMETER stop "<end_of_turn>"' in modelfile and 'PARAMETER stop "<start_of_turn>"' in modelfile
    assert template_of(modelfile) == FAMILIES["gemma"][0]


# A schema within what Ollama gives a template (top-level properties, keys sorted as Go ranges over them).
HARMONY_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_notes",
            "description": "Search the vault",
            "parameters": {
                "properties": {
                    "any": {"type": "array"},
                    "flag": {"type": "boolean"},
                    "kind": {"enum": ["note", "folder"], "type": "string"},
                    "limit": {"description": "How many", "type": "integer"},
                    "missing": {},
                    "n": {"type": ["integer", "null"]},
                    "query": {"description": "Words to look for", "type": "string"},
                    "tags": {"items": {"type": "string"}, "type": "array"},
                },
                "required": ["query"],
                "type": "object",
            },
        },
    },
    {"type": "function", "function": {"name": "read_note", "description": "Read a note"}},
    {
        "type": "function",
        "function": {"name": "list_notes", "description": "", "parameters": {"properties": {}, "type": "object"}},
    },
]
READ = {"function": {"name": "read_note", "arguments": {}}}
HARMONY_CASES = {
    **MISTRAL_CASES,
    "results named after the calls, in order": (
        [
            *CONVERSATION[:1],
            {"role": "assistant", "content": "", "tool_calls": [CALL, READ]},
            {"role": "tool", "content": "found"},
            {"role": "tool", "content": "text"},
        ],
        "",
    ),
    "a preamble before the call": (
        [*CONVERSATION[:1], {"role": "assistant", "content": "Looking.", "tool_calls": [CALL]}],
        "",
    ),
}


def harmony_training_render(messages, tools, system):
    from transformers.utils.chat_template_utils import render_jinja_template

    from toolset.weights.chat_templates import load

    return render_jinja_template(
        [([{"role": "system", "content": system}] if system else []) + messages],
        tools=tools or None,
        chat_template=load("harmony"),
        add_generation_prompt=messages[-1]["role"] != "assistant",
    )[0][0]


@pytest.mark.parametrize("with_tools", [True, False], ids=["tools", "no-tools"])
@pytest.mark.parametrize("case", HARMONY_CASES)
def test_harmony_template_renders_like_the_training_template(render, case, with_tools):
    """Ollama's prompt for a gpt-oss model is the one toolset's harmony training template wrote."""
    messages, system = HARMONY_CASES[case]
    tools = HARMONY_TOOLS if with_tools else []
    ollama = render(FAMILIES["harmony"][0], messages, tools, system=system)
    trained = harmony_training_render(messages, tools, system)
    trained = trained.replace(json.dumps(CALL["function"]["arguments"]), '{"query":"groceries"}')  # Go's spacing
    if messages[-1]["role"] == "assistant":  # Ollama leaves the last assistant message open, to be continued
        ollama += "<|call|>" if messages[-1].get("tool_calls") else "<|return|>"
    assert ollama == trained
    assert ollama.count("namespace functions {") == (1 if tools else 0)
    if case == "results named after the calls, in order":
        assert "<|start|>functions.search_notes to=assistant<|channel|>commentary<|message|>found<|end|>" in ollama
        assert ollama.endswith("<|start|>functions.read_note to=assistant<|channel|>commentary<|message|>text<|end|>"
                               "<|start|>assistant")  # fmt: skip
    if with_tools:
        assert "type search_notes = (_: {\n" in ollama and "// Words to look for\nquery: string,\n" in ollama
        assert 'kind?: "note" | "folder",\n' in ollama and "n?: number | null,\n" in ollama
        assert "tags?: string[],\n" in ollama and "type read_note = () => any;\n" in ollama


def test_harmony_template_limits_are_the_documented_ones(render):
    """What Ollama does not give a template: a nested object's properties, defaults, the parameters' description."""
    parameters = {
        "description": "Search parameters",
        "properties": {
            "context": {"properties": {"sessionId": {"type": "string"}}, "type": "object"},
            "limit": {"default": 5, "type": "integer"},
        },
        "type": "object",
    }
    tools = [{"type": "function", "function": {"name": "search", "description": "Search", "parameters": parameters}}]
    messages = [{"role": "user", "content": "Hi"}]
    ollama = render(FAMILIES["harmony"][0], messages, tools)
    trained = harmony_training_render(messages, tools, "")
    assert "type search = (_: {\ncontext?: Record<string, any>,\nlimit?: number,\n}) => any;" in ollama
    assert "type search = (_: // Search parameters\n{\ncontext?: {\n    sessionId?: string,\n    },\n" in trained
    assert "limit?: number, // default: 5\n" in trained


def test_harmony_modelfile_stops_and_detection(tmp_path):
    from toolset.weights.chat_templates import load, without_generation_markers

    assert detect_family(without_generation_markers(load("harmony"))) == "harmony"
    gguf = tmp_path / "gpt-oss-q4_k_m.gguf"
    gguf.write_bytes(b"GGUF")
    modelfile = export_ollama(gguf, tmp_path / "ollama", OllamaConfig(family="harmony")).read_text()
    assert 'PARAMETER stop "<|call|>"' in modelfile and 'PARAMETER stop "<|return|>"' in modelfile
    assert 'PARAMETER stop "<|end|>"' not in modelfile  # it closes analysis and preambles before a call
    assert template_of(modelfile) == FAMILIES["harmony"][0]
