"""Hand a GGUF file to local apps: an Ollama Modelfile whose TEMPLATE keeps tools and tool calls, and the
``publisher/model/file.gguf`` layout LM Studio scans.

Ollama renders prompts with Go's text/template over ``.System``, ``.Tools`` and ``.Messages`` (each with
``.Role``, ``.Content`` and ``.ToolCalls``) and finds tool calls in the output by the shape the template gives
them — so a fine-tuned model keeps tool support only if the TEMPLATE renders them the way it was trained.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import attrs

from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_file

# The ChatML family with Hermes-style calls: what the SFT formatter's `hermes` style and the project's
# ChatML training template teach (SmolLM2, Qwen 2/2.5/3).
CHATML_TEMPLATE = """{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

Available tools, one JSON schema per line:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

To call a tool, answer with one <tool_call></tool_call> block per call, holding {"name": ..., "arguments": {...}}.
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq $m.Role "user" }}<|im_start|>user
{{ $m.Content }}<|im_end|>
{{ else if eq $m.Role "assistant" }}<|im_start|>assistant
{{- if $m.Content }}
{{ $m.Content }}
{{- end }}
{{- range $m.ToolCalls }}
<tool_call>
{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
</tool_call>
{{- end }}
{{- if not $last }}<|im_end|>
{{ end }}
{{- else if eq $m.Role "tool" }}<|im_start|>user
<tool_response>
{{ $m.Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and $last (ne $m.Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""

# The Mistral v0.3 family as toolset's Mistral training template writes it: tools in [AVAILABLE_TOOLS] before the
# last user turn, the system prompt in front of the first, [TOOL_CALLS] [{"name": ..., "arguments": ...}] and
# [TOOL_RESULTS] {"content": "<the result as a JSON string>"}. BOS comes from the tokenizer, not the template.
MISTRAL_TEMPLATE = """{{- $first := -1 }}{{- $lastUser := -1 }}
{{- range $i, $m := .Messages }}{{ if eq $m.Role "user" }}{{ if lt $first 0 }}{{ $first = $i }}{{ end }}{{ $lastUser = $i }}{{ end }}{{ end }}
{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq $m.Role "user" }}
{{- if and $.Tools (eq $i $lastUser) }}[AVAILABLE_TOOLS] [{{ range $j, $t := $.Tools }}{{ if $j }}, {{ end }}{"type": "function", "function": {{ $t.Function }}}{{ end }}][/AVAILABLE_TOOLS]
{{- end }}[INST] {{ if and $.System (eq $i $first) }}{{ $.System }}

{{ end }}{{ $m.Content }}[/INST]
{{- else if eq $m.Role "assistant" }}
{{- if $m.Content }}{{ $m.Content }}{{ end }}
{{- if $m.ToolCalls }}[TOOL_CALLS] [{{ range $j, $c := $m.ToolCalls }}{{ if $j }}, {{ end }}{"name": "{{ $c.Function.Name }}", "arguments": {{ $c.Function.Arguments }}}{{ end }}]{{ end }}
{{- if not $last }}</s>{{ end }}
{{- else if eq $m.Role "tool" }}[TOOL_RESULTS] {"content": {{ printf "%q" $m.Content }}}[/TOOL_RESULTS]
{{- end }}
{{- end }}"""

LLAMA3_TEMPLATE = """<|start_header_id|>system<|end_header_id|>

{{ if .System }}{{ .System }}
{{ end }}
{{- if .Tools }}When a tool helps, answer only with JSON {"name": function name, "parameters": arguments}.
Available functions:
{{ range .Tools }}{{ .Function }}
{{ end }}
{{- end }}<|eot_id|>
{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq $m.Role "user" }}<|start_header_id|>user<|end_header_id|>

{{ $m.Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq $m.Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>
{{- if $m.ToolCalls }}

{{ range $m.ToolCalls }}{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}

{{ $m.Content }}
{{- end }}{{ if not $last }}<|eot_id|>{{ end }}
{{- else if eq $m.Role "tool" }}<|start_header_id|>ipython<|end_header_id|>

{{ $m.Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"""

# The Gemma 3 family as toolset's Gemma training template writes it: no system role, so the system prompt and the
# tools go in front of the first user turn (or in a user turn of their own), calls as <tool_call> blocks in the
# model turn, and consecutive tool results in one user turn of <tool_response> blocks. BOS comes from the tokenizer.
GEMMA_TEMPLATE = """{{- $first := -1 }}
{{- range $i, $m := .Messages }}{{ if and (lt $first 0) (ne $m.Role "system") }}{{ $first = $i }}{{ end }}{{ end }}
{{- $prev := "" }}
{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if and (eq $prev "tool") (ne $m.Role "tool") }}<end_of_turn>
{{ end }}
{{- if and (eq $i $first) (or $.System $.Tools) }}<start_of_turn>user
{{ if $.System }}{{ $.System }}{{ end }}
{{- if $.Tools }}{{ if $.System }}

{{ end }}# Tools

These functions are available. Their JSON signatures, one per line, are inside <tools></tools>:
<tools>
{{- range $.Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

To call a function, reply with a JSON object of its name and arguments inside <tool_call></tool_call> tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}
{{- if eq $m.Role "user" }}

{{ $m.Content }}{{ end }}<end_of_turn>
{{ else if eq $m.Role "user" }}<start_of_turn>user
{{ $m.Content }}<end_of_turn>
{{ end }}
{{- if eq $m.Role "assistant" }}<start_of_turn>model
{{ if $m.Content }}{{ $m.Content }}{{ end }}
{{- range $j, $c := $m.ToolCalls }}{{ if or $m.Content $j }}
{{ end }}<tool_call>
{"name": "{{ $c.Function.Name }}", "arguments": {{ $c.Function.Arguments }}}
</tool_call>{{ end }}
{{- if not $last }}<end_of_turn>
{{ end }}
{{- else if eq $m.Role "tool" }}
{{- if ne $prev "tool" }}<start_of_turn>user{{ end }}
<tool_response>
{{ $m.Content }}
</tool_response>
{{- end }}
{{- if ne $m.Role "system" }}{{ $prev = $m.Role }}{{ end }}
{{- end }}
{{- if eq $prev "tool" }}<end_of_turn>
{{ end }}
{{- if ne $prev "assistant" }}<start_of_turn>model
{{ end }}"""

# The harmony format (gpt-oss) as toolset's harmony training template writes it: the system message, the system prompt
# and the tools (TypeScript-like, `namespace functions`) in a developer message, each call an assistant message
# `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>`, each result a message from
# `functions.NAME` (the calls' names, in order). What Ollama gives a template of a tool's schema bounds it: top-level
# properties (sorted by name) with their type, enum, array item type and description; a nested object shows as
# `Record<string, any>`, and defaults, titles, examples and the parameters' own description are not written.
HARMONY_TEMPLATE = """<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.
Knowledge cutoff: 2024-06

Reasoning: medium

# Valid channels: analysis, commentary, final. Channel must be included for every message.
{{- if .Tools }}
Calls to these tools must go to the commentary channel: 'functions'.
{{- end }}<|end|>
{{- if or .System .Tools }}<|start|>developer<|message|>
{{- if .System }}# Instructions

{{ .System }}
{{- end }}
{{- if .Tools }}
{{- if .System }}

{{ end }}# Tools

## functions

namespace functions {
{{ range $t := .Tools }}
{{ if $t.Function.Description }}// {{ $t.Function.Description }}
{{ end }}
{{- $params := $t.Function.Parameters }}
{{- if eq $params.Type "object" }}type {{ $t.Function.Name }} = (_: {
{{ range $k, $p := $params.Properties }}
{{- if $p.Description }}// {{ $p.Description }}
{{ end }}
{{- $required := false }}{{ range $r := $params.Required }}{{ if eq $r $k }}{{ $required = true }}{{ end }}{{ end }}
{{- $k }}{{ if not $required }}?{{ end }}{{ ": " }}
{{- if gt (len $p.Type) 1 }}{{ range $j, $x := $p.Type }}{{ if $j }} | {{ end }}{{ if eq $x "integer" }}number{{ else }}{{ $x }}{{ end }}{{ end }}
{{- else }}{{ $x := print $p.Type }}
{{- if eq $x "string" }}{{ $sep := "" }}
{{- range $e := $p.Enum }}{{ if eq (printf "%T" $e) "string" }}{{ $sep }}"{{ $e }}"{{ $sep = " | " }}{{ end }}{{ end }}
{{- if eq $sep "" }}string{{ end }}
{{- else if or (eq $x "number") (eq $x "integer") }}number
{{- else if eq $x "boolean" }}boolean
{{- else if eq $x "array" }}
{{- if $p.Items }}{{ $item := print (index $p.Items "type") }}
{{- if eq $item "string" }}string{{ else if or (eq $item "number") (eq $item "integer") }}number
{{- else if eq $item "boolean" }}boolean{{ else }}any{{ end }}[]
{{- else }}Array<any>{{ end }}
{{- else if eq $x "object" }}Record<string, any>
{{- else }}any{{ end }}
{{- end }},
{{ end }}}) => any;
{{ else }}type {{ $t.Function.Name }} = () => any;
{{ end }}
{{- end }}
} // namespace functions
{{- end }}<|end|>
{{- end }}
{{- $pending := "" }}
{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq $m.Role "user" }}<|start|>user<|message|>{{ $m.Content }}<|end|>
{{- else if eq $m.Role "assistant" }}<|start|>assistant
{{- if $m.ToolCalls }}
{{- if $m.Content }}<|channel|>commentary<|message|>{{ $m.Content }}<|end|><|start|>assistant{{ end }}
{{- $pending = $m.ToolCalls }}
{{- range $j, $c := $m.ToolCalls }}
{{- if $j }}<|start|>assistant{{ end }}<|channel|>commentary to=functions.{{ $c.Function.Name }} <|constrain|>json<|message|>
{{- $c.Function.Arguments }}{{ if or (not $last) (gt (len (slice $m.ToolCalls $j)) 1) }}<|call|>{{ end }}
{{- end }}
{{- else }}<|channel|>final<|message|>{{ $m.Content }}{{ if not $last }}<|end|>{{ end }}
{{- end }}
{{- else if eq $m.Role "tool" }}
{{- $name := "tool" }}
{{- if $pending }}{{ $name = (index $pending 0).Function.Name }}{{ $pending = slice $pending 1 }}{{ end -}}
<|start|>functions.{{ $name }} to=assistant<|channel|>commentary<|message|>{{ $m.Content }}<|end|>
{{- end }}
{{- if and $last (ne $m.Role "assistant") }}<|start|>assistant{{ end }}
{{- end }}"""


FAMILIES = {
    "chatml": (CHATML_TEMPLATE, ("<|im_end|>", "<|im_start|>")),
    "mistral": (MISTRAL_TEMPLATE, ("[INST]", "</s>")),
    "llama3": (LLAMA3_TEMPLATE, ("<|eot_id|>", "<|start_header_id|>")),
    "gemma": (GEMMA_TEMPLATE, ("<end_of_turn>", "<start_of_turn>")),
    "harmony": (HARMONY_TEMPLATE, ("<|call|>", "<|return|>")),
}


def detect_family(chat_template: str | None) -> str:
    """The prompt family of a chat template: ``chatml``, ``mistral``, ``llama3``, ``gemma`` or ``harmony``."""
    text = chat_template or ""
    if "<|im_start|>" in text:
        return "chatml"
    if "<|start_header_id|>" in text:
        return "llama3"
    if "[INST]" in text:
        return "mistral"
    if "<start_of_turn>" in text:
        return "gemma"
    if "<|channel|>" in text:
        return "harmony"
    raise ToolsetError(
        "cannot tell the chat template's family (ChatML, Mistral, Llama 3, Gemma or harmony); set family= explicitly"
    )


def gguf_chat_template(path: Path) -> str | None:
    from toolset.weights.models import open_gguf

    field = open_gguf(path).fields.get("tokenizer.chat_template")
    return field.contents() if field is not None else None


@attrs.define(kw_only=True)
class OllamaConfig:
    """``family``: chatml, mistral, llama3, gemma or harmony (default: read from the GGUF's chat template)."""

    name: str | None = None
    family: str | None = None
    system: str | None = None
    temperature: float | None = None
    num_ctx: int = 4096
    copy_gguf: bool = True


def modelfile_text(gguf_name: str, family: str, config: OllamaConfig) -> str:
    if family not in FAMILIES:
        raise ToolsetError(f"unknown template family {family!r}; known: {', '.join(FAMILIES)}")
    template, stops = FAMILIES[family]
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{template}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines.append(f"PARAMETER num_ctx {config.num_ctx}")
    if config.temperature is not None:
        lines.append(f"PARAMETER temperature {config.temperature}")
    if config.system:
        lines.append(f'SYSTEM """{config.system}"""')
    return "\n".join(lines) + "\n"


def export_ollama(source: Path, destination: Path, config: OllamaConfig | None = None) -> Path:
    """Write DESTINATION/Modelfile for the GGUF file SOURCE (copied beside it unless copy_gguf is off)."""
    config = config or OllamaConfig()
    source, destination = Path(source), Path(destination)
    if source.suffix != ".gguf" or not source.is_file():
        raise ToolsetError(f"{source}: a .gguf file is expected (export one with `toolset export gguf`)")
    family = config.family or detect_family(gguf_chat_template(source))
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / source.name
    if config.copy_gguf and target.resolve() != source.resolve():
        with atomic_file(target, "wb") as handle, open(source, "rb") as original:
            shutil.copyfileobj(original, handle, length=16 * 2**20)
    gguf_name = source.name if config.copy_gguf else os.path.relpath(source, destination)
    with atomic_file(destination / "Modelfile") as handle:
        handle.write(modelfile_text(gguf_name, family, config))
    return destination / "Modelfile"


def ollama_create_command(modelfile: Path, name: str) -> str:
    return f"ollama create {name} -f {modelfile}"


@attrs.define(kw_only=True)
class LMStudioConfig:
    """LM Studio lists models found as ``MODELS_DIR/publisher/model/file.gguf``."""

    models_dir: str | None = None
    publisher: str = "toolset"
    model: str | None = None
    overwrite: bool = False


def lmstudio_models_dir(configured: str | None) -> Path:
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("LMSTUDIO_MODELS_DIR"):
        return Path(os.environ["LMSTUDIO_MODELS_DIR"]).expanduser()
    return Path.home() / ".lmstudio" / "models"


def export_lmstudio(source: Path, destination: Path | None, config: LMStudioConfig | None = None) -> Path:
    """Copy the GGUF file SOURCE to ``MODELS_DIR/publisher/model/`` (DESTINATION, if given, is MODELS_DIR)."""
    config = config or LMStudioConfig()
    source = Path(source)
    if source.suffix != ".gguf" or not source.is_file():
        raise ToolsetError(f"{source}: a .gguf file is expected (export one with `toolset export gguf`)")
    models_dir = Path(destination) if destination else lmstudio_models_dir(config.models_dir)
    model = config.model or source.stem.rsplit("-", 1)[0]
    target = models_dir / config.publisher / model / source.name
    if target.exists() and not config.overwrite:
        raise ToolsetError(f"{target} already exists (set overwrite=true to replace it)")
    with atomic_file(target, "wb") as handle, open(source, "rb") as original:
        shutil.copyfileobj(original, handle, length=16 * 2**20)
    return target
