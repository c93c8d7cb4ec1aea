"""Training chat templates the project supplies when a model's own cannot render tool calls or lacks
``{% generation %}`` markers (needed to put the loss on assistant turns only).

Families: ``chatml`` (SmolLM2, Qwen, Hermes), ``llama3``, ``mistral``, ``gemma`` (Gemma 3), ``harmony``
(gpt-oss). Each is prefix-preserving: the prompt rendered with ``add_generation_prompt`` is a prefix of the
prompt plus the assistant's answer.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from toolset.errors import ToolsetError

FAMILIES = ("chatml", "llama3", "mistral", "gemma", "harmony")

_MARKERS = {
    "chatml": ("<|im_start|>",),
    "llama3": ("<|start_header_id|>",),
    "mistral": ("[INST]",),
    "gemma": ("<start_of_turn>",),
    "harmony": ("<|channel|>",),
}
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def load(name_or_path: str) -> str:
    """The text of a bundled family template, or of a ``.jinja`` file."""
    if name_or_path in FAMILIES:
        return (resources.files("toolset.weights") / "templates" / f"{name_or_path}.jinja").read_text(encoding="utf-8")
    path = Path(name_or_path)
    if path.suffix in {".jinja", ".j2"} and path.is_file():
        return path.read_text(encoding="utf-8")
    raise ValueError(
        f"unknown chat template {name_or_path!r}: use one of {', '.join(FAMILIES)} or the path of a .jinja file"
    )


def has_generation_markers(template: str | None) -> bool:
    return bool(template) and _GENERATION.search(template) is not None


_MARKER_TAG = re.compile(r"\{%(-?)\s*(end)?generation\s*(-?)%\}")


def without_generation_markers(template: str) -> str:
    """The same template for inference engines that don't know ``{% generation %}`` (llama.cpp, Ollama):
    each marker becomes a no-op ``if`` block, whitespace control kept."""
    return _MARKER_TAG.sub(
        lambda m: f"{{%{m.group(1)} {'endif' if m.group(2) else 'if true'} {m.group(3)}%}}", template
    )


def family_of(template: str | None, model_type: str | None = None) -> str | None:
    """Guess a model's template family from its chat template text (or, failing that, its model type)."""
    for family, markers in _MARKERS.items():
        if template and any(marker in template for marker in markers):
            return family
    by_type = {"qwen2": "chatml", "qwen3": "chatml", "llama": None, "mistral": "mistral"}
    by_type |= {"gemma3": "gemma", "gemma3_text": "gemma"}
    by_type |= {"gpt_oss": "harmony"}
    return by_type.get(model_type or "")


def stop_token(family: str) -> str:
    """The end-of-turn text of a family (the training template puts it inside the generation markers)."""
    return {
        "chatml": "<|im_end|>",
        "llama3": "<|eot_id|>",
        "mistral": "</s>",
        "gemma": "<end_of_turn>",
        "harmony": "<|return|>",
    }[family]


def stop_tokens(family: str) -> tuple[str, ...]:
    """Every text that ends an assistant turn of a family: harmony ends a final answer with ``<|return|>`` and a
    tool call with ``<|call|>``; the other families have one end-of-turn text."""
    return {"harmony": ("<|return|>", "<|call|>")}.get(family) or (stop_token(family),)


_PROBE = [
    {"role": "user", "content": "probe"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "probe_tool_name", "arguments": {"probe_key": "probe_value"}}}
        ],
    },
]


def renders_tool_calls(tokenizer: Any, template: str) -> bool:
    """Whether ``template``, rendered by this Hugging Face tokenizer, shows a tool call's name and arguments."""
    try:
        text = tokenizer.apply_chat_template(_PROBE, chat_template=template, tokenize=False)
    except Exception:
        return False
    return "probe_tool_name" in text and "probe_value" in text


def choose(
    tokenizer: Any,
    *,
    style: str = "native",
    override: str | None = None,
    model_name: str = "the model",
    model_type: str | None = None,
) -> tuple[str, str]:
    """The chat template to train with, and a sentence for the run log saying which and why.

    The model's own template when it has generation markers and (for the ``native`` style) renders tool
    calls; otherwise the bundled template of its family. ``override`` (a family or a .jinja file) wins.
    """
    if override:
        try:
            template = load(override)
        except ValueError as exc:
            raise ToolsetError(f"model.chat_template: {exc}") from None
        return template, f"chat template: {override} (set in the config)"
    own = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    problems = []
    if not own:
        problems.append("has no chat template")
    else:
        if not has_generation_markers(own):
            problems.append("has no {% generation %} markers (needed for loss on assistant turns only)")
        if style == "native" and not renders_tool_calls(tokenizer, own):
            problems.append("cannot render tool calls")
    if not problems:
        return own, "chat template: the model's own (renders tool calls, has generation markers)"
    family = family_of(own, model_type)
    if family is None:
        raise ToolsetError(
            f"{model_name}: its chat template {' and '.join(problems)}, and its family is not recognised: "
            f"set model.chat_template to one of {', '.join(FAMILIES)} or a .jinja file"
        )
    note = f"chat template: toolset's {family} training template (the model's own {' and '.join(problems)})"
    return load(family), note
