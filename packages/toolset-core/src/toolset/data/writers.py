"""Write conversations as JSONL in the ``conversations``, ``messages`` or ``text`` format (atomically)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from toolset.data import Conversation, Message
from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_file

WRITABLE = ("conversations", "messages", "text")


def _openai_message(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [
            {
                "id": call.id or f"call_{index}",
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.raw_arguments
                    if call.raw_arguments is not None
                    else json.dumps(call.arguments, ensure_ascii=False),
                },
            }
            for index, call in enumerate(message.tool_calls)
        ]
    if message.tool_call_id:
        data["tool_call_id"] = message.tool_call_id
    if message.name:
        data["name"] = message.name
    return data


def _text_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Fold assistant call + tool result + reply into one assistant text (the legacy ``text`` style)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            parts = [message.content] if message.content else []
            parts += [
                f"tool_call: {c.name}\narguments: {json.dumps(c.arguments, ensure_ascii=False)}"
                for c in message.tool_calls
            ]
            out.append({"role": "assistant", "content": "\n".join(parts)})
        elif message.role == "tool" and out and out[-1]["role"] == "assistant":
            out[-1]["content"] += f"\n\nResult: {message.content}"
        elif message.role == "assistant" and out and out[-1]["role"] == "assistant" and "Result:" in out[-1]["content"]:
            out[-1]["content"] += f"\n\n{message.content or ''}"
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def to_record(conversation: Conversation, format: str) -> dict[str, Any]:
    if format not in WRITABLE:
        raise ToolsetError(f"cannot write format {format!r}; writable: {', '.join(WRITABLE)}")
    if format == "text":
        messages = _text_messages(conversation.messages)
    else:
        messages = [_openai_message(m) for m in conversation.messages]
    record: dict[str, Any] = {"messages" if format == "messages" else "conversations": messages}
    if conversation.tools:
        record["tools"] = conversation.tools
    if conversation.label is not None:
        record["label"] = conversation.label
    record.update({k: v for k, v in conversation.metadata.items() if k not in {"source", "line"}})
    return record


def write_conversations(conversations: Iterable[Conversation], path: str | Path, *, format: str) -> int:
    """Write one JSON line per conversation; the file appears only when complete. Returns the count."""
    count = 0
    with atomic_file(Path(path)) as handle:
        for conversation in conversations:
            handle.write(json.dumps(to_record(conversation, format), ensure_ascii=False) + "\n")
            count += 1
    return count
