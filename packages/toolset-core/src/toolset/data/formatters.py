"""Conversations to training rows: the ``sft`` and ``kto`` formatters (no tokenizer needed here).

- ``sft`` rows are TRL conversational rows ``{"messages", "tools"}``.
- ``kto`` rows are ``{"prompt", "completion", "label", "tools"}``: the prompt is every message before the
  final assistant turn (system prompt included), the completion that turn with its calls and its text.

The tool-call style decides how an assistant call is written: ``native`` keeps structured ``tool_calls``
for the chat template to render; ``hermes`` writes ``<tool_call>{json}</tool_call>`` into the content;
``text`` writes the legacy ``tool_call: NAME`` / ``arguments: {json}`` lines. SFT and KTO share one style.
Each row keeps ``source`` and ``line`` so later messages can point at the file.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import attrs

from toolset.config import ToolCallStyle
from toolset.data import Conversation, Finding, Message, ToolCall

ToolsMode = Literal["conversation", "none", "used", "distractors", "all"]
METHODS = ("sft", "kto")
# The evaluation's tool offer (``toolset eval run --tools``) that matches each training policy.
EVAL_OFFER = {"none": "none", "used": "expected", "distractors": "distractors", "all": "all"}


@attrs.define(kw_only=True)
class FormatterConfig:
    """``tools``: which tool definitions ride with each row (the tool offer policy) — the conversation's own
    (``conversation``), none, those of the tool set that the row calls (``used``), those plus
    ``distractors`` other tools of the set drawn per row (``distractors``), or the whole tool set (``all``;
    long prompts)."""

    tool_call_style: ToolCallStyle = "native"
    tools: ToolsMode = "conversation"
    distractors: int = 3
    toolset: str | None = None


def offered_tools(
    catalog: Any, used: Sequence[str], policy: str, *, distractors: int = 3, key: str = ""
) -> list[dict[str, Any]] | None:
    """The tool definitions (OpenAI style) offered with one prompt under ``policy`` — ``none``, the ``used``
    tools, those plus ``distractors`` other tools of ``catalog``, or ``all`` — the same in training and in
    evaluation. The picks and their order come from a seed made of ``key`` (a row's or case's identity), so
    a prompt always gets the same offer and the expected tool's position gives nothing away."""
    if policy == "none":
        return None
    if policy == "all":
        return catalog.to_openai()
    names = [name for name in dict.fromkeys(used) if catalog.get(name) is not None]
    rng = random.Random(hashlib.sha256(key.encode("utf-8")).hexdigest())
    if policy == "distractors" and distractors > 0:
        others = [tool.name for tool in catalog.tools if tool.name not in names]
        names += rng.sample(others, min(distractors, len(others)))
    elif policy != "used":
        raise ValueError(f"unknown tool offer policy {policy!r}")
    rng.shuffle(names)
    return [catalog.get(name).to_openai() for name in names] or None


@attrs.define
class FormatResult:
    """A formatter's rows (it iterates and counts as them) and the conversations it skipped, with why."""

    rows: list[dict[str, Any]]
    skipped: list[Finding] = attrs.Factory(list)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def tool_offer_record(policy: str, distractors: int, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What a training run records of its tool offer (lineage ``data.tool_offer``): the policy, how many rows
    carried tool definitions, and the ``toolset eval run --tools`` value that offers the same at evaluation."""
    with_tools = sum(1 for row in rows if row.get("tools"))
    # "conversation": the data's own definitions; each prompt offered its tools, or none had any
    offer = ("expected" if with_tools else "none") if policy == "conversation" else EVAL_OFFER[policy]
    record = {"policy": policy, "rows_with_tools": with_tools, "eval_offer": offer}
    return record | ({"distractors": distractors} if policy == "distractors" else {})


def _arguments(call: ToolCall) -> dict[str, Any] | str:
    return call.arguments if call.raw_arguments is None else call.raw_arguments


def call_text(call: ToolCall, style: ToolCallStyle) -> str:
    """One call written as text in the ``hermes`` or ``text`` style."""
    arguments = json.dumps(_arguments(call), ensure_ascii=False)
    if style == "text":
        return f"tool_call: {call.name}\narguments: {arguments}"
    payload = json.dumps({"name": call.name}, ensure_ascii=False)[:-1] + f', "arguments": {arguments}}}'
    return f"<tool_call>\n{payload}\n</tool_call>"


def _message(message: Message, style: ToolCallStyle) -> dict[str, Any]:
    if message.role == "assistant" and message.tool_calls:
        if style == "native":
            calls = [
                {
                    "id": call.id or f"call_{index}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": _arguments(call)},
                }
                for index, call in enumerate(message.tool_calls)
            ]
            return {"role": "assistant", "content": message.content or "", "tool_calls": calls}
        parts = [message.content] if message.content else []
        parts += [call_text(call, style) for call in message.tool_calls]
        return {"role": "assistant", "content": "\n".join(parts)}
    data: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.role == "tool":
        if style == "text":
            return {"role": "tool", "content": f"Result: {message.content or ''}"}
        if message.tool_call_id:
            data["tool_call_id"] = message.tool_call_id
        if message.name:
            data["name"] = message.name
    return data


def messages_for(messages: Sequence[Message], style: ToolCallStyle) -> list[dict[str, Any]]:
    """Chat-template messages (``role``/``content``/``tool_calls``) in the given tool-call style."""
    return [_message(message, style) for message in messages]


def _tools(conversation: Conversation, config: FormatterConfig, catalog: Any) -> list[dict[str, Any]] | None:
    if config.tools == "none":
        return None
    if config.tools == "conversation" or catalog is None:
        return list(conversation.tools) or None
    used = [call.name for call in conversation.tool_calls]
    key = json.dumps([[m.role, m.content] for m in conversation.messages if m.role in ("system", "user")])
    return offered_tools(catalog, used, config.tools, distractors=config.distractors, key=key)


def _catalog(config: FormatterConfig) -> Any:
    if config.tools in ("conversation", "none"):
        return None
    from toolset import get_toolset

    toolset = get_toolset(config.toolset or "claudesidian")
    return toolset.factory(toolset.default_config())


def _skip(conversation: Conversation, code: str, message: str) -> Finding:
    return Finding(code=code, message=message, severity="warning", source=conversation.source, line=conversation.line)


def _where(conversation: Conversation) -> dict[str, Any]:
    return {"source": conversation.source, "line": conversation.line}


def format_sft(conversations: Iterable[Conversation], config: FormatterConfig | None = None) -> FormatResult:
    """SFT rows; conversations with no assistant turn are skipped and reported."""
    config = config or FormatterConfig()
    catalog = _catalog(config)
    result = FormatResult([])
    for conversation in conversations:
        if not any(m.role == "assistant" for m in conversation.messages):
            result.skipped.append(_skip(conversation, "format.no_assistant", "no assistant turn to learn from"))
            continue
        if conversation.label is False:
            result.skipped.append(
                _skip(conversation, "format.undesirable", "label=false example left out of SFT (it is for KTO)")
            )
            continue
        messages = list(conversation.messages)
        while messages and messages[-1].role != "assistant":
            messages.pop()  # trailing user/tool turns teach nothing
        row = {
            "messages": messages_for(messages, config.tool_call_style),
            "tools": _tools(conversation, config, catalog),
            **_where(conversation),
        }
        result.rows.append(row)
    return result


def format_kto(conversations: Iterable[Conversation], config: FormatterConfig | None = None) -> FormatResult:
    """KTO rows: prompt (everything before the final assistant turn), completion (that turn), label."""
    config = config or FormatterConfig()
    catalog = _catalog(config)
    result = FormatResult([])
    for conversation in conversations:
        if conversation.label is None:
            result.skipped.append(_skip(conversation, "format.no_label", "KTO needs a true/false label"))
            continue
        last = max((i for i, m in enumerate(conversation.messages) if m.role == "assistant"), default=None)
        if last is None or last == 0:
            result.skipped.append(_skip(conversation, "format.no_assistant", "no assistant turn after a prompt"))
            continue
        messages = messages_for(conversation.messages[: last + 1], config.tool_call_style)
        result.rows.append(
            {
                "prompt": messages[:last],
                "completion": messages[last:],
                "label": bool(conversation.label),
                "tools": _tools(conversation, config, catalog),
                **_where(conversation),
            }
        )
    return result


def format_rows(method: str, conversations: Iterable[Conversation], config: FormatterConfig | None = None):
    """Dispatch to :func:`format_sft` or :func:`format_kto`."""
    if method not in METHODS:
        raise ValueError(f"no formatter for {method!r}; known: {', '.join(METHODS)}")
    return (format_sft if method == "sft" else format_kto)(conversations, config)


# Preparation (de-duplication, splitting, the KTO batch plan) lives in toolset.data.prepare; the old names stay here.
_MOVED = (
    "too_long_finding",
    "row_key",
    "deduplicate",
    "split_rows",
    "label_counts",
    "balanced_batches",
    "kto_weights",
)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from toolset.data import prepare

        return getattr(prepare, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
