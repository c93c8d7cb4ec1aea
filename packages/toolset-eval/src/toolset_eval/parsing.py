"""Read the tool calls out of a model's answer, whatever style it used; never raises.

Styles, tried in this order:

- ``native``: the server's own ``tool_calls`` (OpenAI ``{"function": {"name", "arguments"}}`` or flat
  ``{"name", "arguments"}``; arguments an object or a JSON string);
- ``hermes``: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (Hermes, Qwen), one block per call;
- ``mistral``: ``[TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]`` or ``[TOOL_CALLS]name[ARGS]{...}``;
- ``text``: the legacy ``tool_call: NAME`` line followed by an ``arguments: {json}`` line;
- ``fenced_json``: a call object (or a list of them) inside a ````` ```json ````` code fence;
- ``json``: the whole answer is a call object or a list of them;
- ``harmony`` (gpt-oss): messages ``<|start|>assistant<|channel|>commentary to=functions.NAME <|constrain|>json
  <|message|>{...}<|call|>`` (the recipient may also follow the role); ``final`` and ``commentary`` text is prose
  (parsed with the styles above), ``analysis`` is thinking and ignored.

``<think>...</think>`` blocks are ignored. Calls keep their argument key order. A malformed answer gives a
reason code (see :data:`REASONS`); calls that did parse are still returned beside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from toolset.components import as_tuple
from toolset.data import ToolCall

REASONS: dict[str, str] = {
    "parse.empty": "the answer is empty",
    "parse.no_tool_call": "the answer contains no tool call",
    "parse.invalid_json": "a tool call is not valid JSON",
    "parse.unclosed_tag": "a <tool_call> block is never closed",
    "parse.missing_name": "a tool call has no tool name",
    "parse.missing_arguments": "a 'tool_call:' line has no 'arguments:' line after it",
    "parse.invalid_arguments": "a tool call's arguments are not a JSON object",
}

_DECODER = json.JSONDecoder()
_LEGACY_CALL = re.compile(r"^[ \t]*tool_call:[ \t]*(\S*)[ \t]*$", re.MULTILINE)
_LEGACY_ARGUMENTS = re.compile(r"\s*arguments:[ \t]*")
_MISTRAL_NAME = re.compile(r"\s*([^\s\[\]{}]+)")
_FENCE = "```"
_HARMONY_MARKS = ("<|channel|>", "<|message|>", "<|start|>", "<|call|>", "<|return|>")
_HARMONY_ENDS = ("<|end|>", "<|call|>", "<|return|>")
_HARMONY_RECIPIENT = re.compile(r"\bto=([^\s<]*)")
_HARMONY_CHANNEL = re.compile(r"<\|channel\|>\s*([^\s<]*)")
_HARMONY_ROLE = re.compile(r"\s*((?!to=)[^\s<]*)")
_BARE_HARMONY_CALL = re.compile(r"\bto=functions\.([^\s<{]*)")
_BARE_HARMONY_HEADER = re.compile(r"\s*(?:commentary|analysis)?\s*(?:<\|constrain\|>)?\s*(?:json)?\s*")


@attrs.frozen
class ParseResult:
    """The calls found, the style they were written in, and a reason code when something was malformed."""

    calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=as_tuple)
    style: str | None = None
    error: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """At least one call and nothing malformed."""
        return self.error is None and bool(self.calls)


class _Malformed(Exception):
    """A malformation; ``call`` is the call as far as it could be read (name known, arguments undecodable)."""

    def __init__(self, code: str, detail: str, call: ToolCall | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.call = call


def parse_response(response: Any) -> ParseResult:
    """Parse a :class:`toolset.components.ChatResponse` (native tool calls first, then its text)."""
    return parse_output(getattr(response, "content", None), getattr(response, "tool_calls", None))


def parse_output(content: str | None, tool_calls: Sequence[Any] | None = None) -> ParseResult:
    """Native ``tool_calls`` when there are any, else the calls written in ``content``."""
    if tool_calls:
        return parse_native(tool_calls)
    return parse_text(content)


def parse_native(tool_calls: Sequence[Any]) -> ParseResult:
    """A server's own tool calls, checked like written ones (a name, arguments that are a JSON object)."""

    def calls():
        for index, raw in enumerate(tool_calls):
            if isinstance(raw, Mapping):
                yield _attempt(lambda raw=raw: [_call_from_object(raw)])
            else:
                yield _Malformed("parse.invalid_json", f"tool call {index} is {_kind(raw)}, not an object")

    return _collect(calls(), "native")


def parse_text(text: Any) -> ParseResult:
    """The calls written in ``text`` in any supported style."""
    if not isinstance(text, str) or not text.strip():
        return ParseResult(error="parse.empty", detail=REASONS["parse.empty"])
    try:
        return _parse_text(_without_thinking(text))
    except RecursionError:  # JSON nested deeper than the interpreter allows
        return ParseResult(error="parse.invalid_json", detail="JSON nested too deeply to decode")


def _without_thinking(text: str) -> str:
    """Drop the reasoning a model writes before answering: a leading ``<think>`` block, or everything up to a
    lone ``</think>`` (its opening tag was in the prompt). Tags inside a call's JSON are left alone."""
    stripped = text.lstrip()
    if stripped.startswith("<think>"):
        end = stripped.find("</think>")
        return "" if end == -1 else stripped[end + len("</think>") :]
    closing = stripped.find("</think>")
    if closing != -1 and not any(
        mark in stripped[:closing] for mark in ("<think>", "<tool_call>", "[TOOL_CALLS]", "{")
    ):
        return stripped[closing + len("</think>") :]
    return text


def _parse_text(text: str) -> ParseResult:
    if any(mark in text for mark in _HARMONY_MARKS):
        return _harmony(text)
    result = _parse_plain(text)
    if result.error == "parse.no_tool_call" and _BARE_HARMONY_CALL.search(text):
        found = list(_bare_harmony(text))  # harmony whose control tokens were stripped
        return _collect(found, "harmony") if found else result
    return result


def harmony_prose(text: Any) -> str | None:
    """The prose of a harmony answer (its ``final`` and ``commentary`` text, without thinking or calls); None
    when ``text`` is not in the harmony format."""
    if not isinstance(text, str) or not any(mark in text for mark in _HARMONY_MARKS):
        return None
    return "\n".join(
        body for role, channel, target, body in _harmony_messages(text) if _is_prose(role, channel, target)
    )


def _harmony_messages(text: str):
    """(role, channel, recipient, body) of each message; the first may lack a header (it follows the prompt's
    ``<|start|>assistant``), a cut-off one its body (then the body is None)."""
    for index, segment in enumerate(text.split("<|start|>")):
        if "<|message|>" in segment:
            header, body = segment.split("<|message|>", 1)
        elif index == 0 and "<|channel|>" not in segment and "to=" not in segment:
            header, body = "", segment
        else:
            header, body = segment, None
        if body is not None:
            body = body[: min((body.find(end) for end in _HARMONY_ENDS if end in body), default=len(body))]
        role = _HARMONY_ROLE.match(header).group(1)
        channel = _HARMONY_CHANNEL.search(header)
        target = _HARMONY_RECIPIENT.search(header)
        yield role, channel.group(1) if channel else None, target.group(1) if target else None, body


def _is_prose(role: str, channel: str | None, target: str | None) -> bool:
    return role in ("", "assistant") and target in (None, "all") and channel in (None, "final", "commentary")


def _harmony(text: str) -> ParseResult:
    """Calls from harmony messages addressed to a tool; without any, the prose parsed in the other styles."""
    found: list[Any] = []
    prose: list[str] = []
    for role, channel, target, body in _harmony_messages(text):
        if role not in ("", "assistant"):
            continue  # a message the model should not write (a user turn, a tool result)
        if target not in (None, "all", "assistant", "user"):
            found.append(_attempt(_harmony_call, target, body))
        elif body is not None and _is_prose(role, channel, target):
            prose.append(body)
    if found:
        return _collect(found, "harmony")
    words = "\n".join(prose).strip()
    if not words:
        return ParseResult(
            error="parse.empty", detail="the answer holds no final text or call, only analysis (thinking)"
        )
    return _parse_plain(words)


def _harmony_call(target: str, body: str | None) -> list[ToolCall]:
    name = target.removeprefix("functions.")
    if not name:
        raise _Malformed("parse.missing_name", f"a harmony message is addressed to no tool (to={target})")
    if body is None:
        raise _Malformed("parse.invalid_json", f"the call to {name} was cut off before its <|message|> (arguments)")
    if not body.strip():
        return [_call(name, {}, None)]
    return _call_with_prefix_arguments(name, body, None)


def _bare_harmony(text: str):
    for match in _BARE_HARMONY_CALL.finditer(text):
        rest = text[match.end() :]
        brace = rest.find("{")
        if brace != -1 and _BARE_HARMONY_HEADER.fullmatch(rest[:brace]):  # else: prose that mentions it
            yield _attempt(_call_with_prefix_arguments, match.group(1), rest[brace:], None)


def _parse_plain(text: str) -> ParseResult:
    if "<tool_call>" in text:
        return _collect(_hermes(text), "hermes")
    if "[TOOL_CALLS]" in text:
        return _collect(_mistral(text), "mistral")
    if _LEGACY_CALL.search(text):
        return _collect(_legacy(text), "text")
    fenced = _fenced(text)
    if fenced is not None:
        return fenced
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        return _collect([_attempt(_json_calls, stripped, whole=True)], "json")
    if not stripped:
        return ParseResult(error="parse.empty", detail="the answer holds only a <think> block")
    return ParseResult(error="parse.no_tool_call", detail=REASONS["parse.no_tool_call"])


def _collect(items: Any, style: str) -> ParseResult:
    """Gather what a style's generator yields: lists of calls, or malformations (the first one is reported)."""
    calls: list[ToolCall] = []
    error: _Malformed | None = None
    for item in items:
        if isinstance(item, _Malformed):
            error = error or item
            if item.call is not None:
                calls.append(item.call)
        else:
            calls.extend(item)
    return _result(calls, style, error)


def _attempt(function: Any, *args: Any, **kwargs: Any) -> list[ToolCall] | _Malformed:
    try:
        return function(*args, **kwargs)
    except _Malformed as exc:
        return exc


def _result(calls: list[ToolCall], style: str, error: _Malformed | None) -> ParseResult:
    if error is not None:
        return ParseResult(calls, style, error.code, error.detail)
    if not calls:
        return ParseResult((), style, "parse.no_tool_call", f"no tool call in the {style} block(s)")
    return ParseResult(calls, style)


def _closing(text: str, body_start: int, marker: str) -> int:
    """Where ``marker`` closes a block whose body starts at ``body_start`` (-1: nowhere): the first one after
    the JSON value the body starts with, where it starts with a valid one, so that its strings may hold it."""
    first = len(text) - len(text[body_start:].lstrip())
    search_from = body_start
    if text[first : first + 1] in ("{", "["):
        try:
            search_from = _DECODER.raw_decode(text, first)[1]
        except ValueError:
            pass
    return text.find(marker, search_from)


def _hermes(text: str):
    position = 0
    while (start := text.find("<tool_call>", position)) != -1:
        body_start = start + len("<tool_call>")
        end = _closing(text, body_start, "</tool_call>")
        if end == -1:  # cut off before the closing tag: accepted when the JSON inside is complete
            found = _attempt(_json_calls, _unfence(text[body_start:]), whole=True)
            if isinstance(found, _Malformed):
                found = _Malformed("parse.unclosed_tag", f"a <tool_call> block is never closed ({found.detail})")
            yield found
            return
        position = end + len("</tool_call>")
        yield _attempt(_json_calls, _unfence(text[body_start:end]), whole=True)


def _mistral(text: str):
    for segment in text.split("[TOOL_CALLS]")[1:]:
        rest = segment.lstrip()
        if rest[:1] in ("[", "{"):
            yield _attempt(_json_calls, rest, whole=False)
            continue
        match = _MISTRAL_NAME.match(segment)
        if not match:
            yield _Malformed("parse.missing_name", "[TOOL_CALLS] is followed by neither JSON nor a tool name")
            continue
        name = match.group(1)
        after = segment[match.end() :]
        call_id = None
        if after.startswith("[CALL_ID]"):
            id_match = _MISTRAL_NAME.match(after, len("[CALL_ID]"))
            call_id = id_match.group(1) if id_match else None
            after = after[id_match.end() if id_match else len("[CALL_ID]") :]
        if not after.startswith("[ARGS]"):
            yield _Malformed("parse.missing_arguments", f"[TOOL_CALLS]{name} has no [ARGS] after it")
            continue
        yield _attempt(_call_with_prefix_arguments, name, after[len("[ARGS]") :], call_id)


def _legacy(text: str):
    for match in _LEGACY_CALL.finditer(text):
        name = match.group(1)
        if not name:
            yield _Malformed("parse.missing_name", "a 'tool_call:' line names no tool")
            continue
        arguments = _LEGACY_ARGUMENTS.match(text, match.end())
        if arguments is None:
            yield _Malformed("parse.missing_arguments", f"'tool_call: {name}' has no 'arguments:' line after it")
            continue
        yield _attempt(_call_with_prefix_arguments, name, text[arguments.end() :], None)


def _call_with_prefix_arguments(name: str, text: str, call_id: str | None) -> list[ToolCall]:
    """One call whose arguments are the JSON value at the start of ``text`` (what follows is ignored)."""
    stripped = text.lstrip()
    try:
        arguments, _end = _DECODER.raw_decode(stripped)
    except (ValueError, RecursionError) as exc:
        raw = stripped.split("\n", 1)[0]
        raise _Malformed(
            "parse.invalid_json",
            f"the arguments of {name} are not valid JSON ({_json_error(exc)})",
            ToolCall(name=name, id=call_id, raw_arguments=raw),
        ) from None
    return [_call(name, arguments, call_id)]


def _fenced(text: str) -> ParseResult | None:
    """Calls in code fences; ``None`` when no fence holds anything call-like (then other styles are tried)."""
    calls: list[ToolCall] = []
    error: _Malformed | None = None
    for language, body in _fences(text):
        looks_like_json = language in ("json", "tool_call", "tool_calls", "") and body.lstrip()[:1] in ("{", "[")
        if not looks_like_json and language != "json":
            continue
        found = _attempt(_json_calls, body.strip(), whole=True)
        if isinstance(found, _Malformed):
            error = error or found
        else:
            calls.extend(found)
    if not calls and error is None:
        return None
    return _result(calls, "fenced_json", error)


def _fences(text: str):
    """(language, body) of each code fence (a body that is JSON may hold backticks in its strings)."""
    position = 0
    while (start := text.find(_FENCE, position)) != -1:
        line_end = text.find("\n", start)
        if line_end == -1:
            return
        end = _closing(text, line_end + 1, _FENCE)
        if end == -1:
            return
        yield text[start + len(_FENCE) : line_end].strip().lower(), text[line_end + 1 : end]
        position = end + len(_FENCE)


def _unfence(body: str) -> str:
    stripped = body.strip()
    if stripped.startswith(_FENCE) and stripped.endswith(_FENCE) and len(stripped) >= 2 * len(_FENCE):
        inner = stripped[len(_FENCE) : -len(_FENCE)]
        newline = inner.find("\n")
        return inner[newline + 1 :] if newline != -1 else inner
    return stripped


def _json_calls(text: str, *, whole: bool) -> list[ToolCall]:
    """Calls from a JSON object or list at the start of ``text``; ``whole``: nothing may follow it."""
    stripped = text.strip()
    if not stripped:
        raise _Malformed("parse.invalid_json", "an empty tool call block")
    try:
        value, end = _DECODER.raw_decode(stripped)
    except (ValueError, RecursionError) as exc:
        raise _Malformed("parse.invalid_json", f"the tool call is not valid JSON ({_json_error(exc)})") from None
    if whole and stripped[end:].strip():
        raise _Malformed("parse.invalid_json", f"text after the tool call's JSON: {stripped[end:].strip()[:40]!r}")
    objects = value if isinstance(value, list) else [value]
    calls = []
    for item in objects:
        if not isinstance(item, Mapping):
            raise _Malformed("parse.missing_name", f"expected a tool call object, found {_kind(item)}")
        calls.append(_call_from_object(item))
    return calls


def _call_from_object(obj: Mapping[str, Any]) -> ToolCall:
    """A call from ``{"name", "arguments"|"parameters"}``, possibly wrapped as ``{"function": {...}}``."""
    function = obj.get("function")
    source = function if isinstance(function, Mapping) else obj
    arguments = source.get("arguments", source.get("parameters"))
    return _call(source.get("name"), arguments, obj.get("id"))


def _call(name: Any, arguments: Any, call_id: Any) -> ToolCall:
    if not isinstance(name, str) or not name.strip():
        raise _Malformed("parse.missing_name", f"the tool call has no name (found {_kind(name)})")
    call_id = call_id if isinstance(call_id, str) else None
    if arguments is None or arguments == "":
        arguments = {}
    elif isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            raise _Malformed(
                "parse.invalid_json",
                f"the arguments of {name} are not valid JSON ({_json_error(exc)})",
                ToolCall(name=name, id=call_id, raw_arguments=arguments),
            ) from None
        arguments = decoded
    if not isinstance(arguments, Mapping):
        raise _Malformed("parse.invalid_arguments", f"the arguments of {name} are {_kind(arguments)}, not an object")
    return ToolCall(name=name, arguments=dict(arguments), id=call_id)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "nothing"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _json_error(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
