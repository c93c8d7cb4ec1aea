"""Read conversation datasets (JSONL of any size, streamed line by line) into :mod:`toolset.data` objects.

Formats, detected per line unless one is given: ``conversations`` (ChatML list with OpenAI ``tool_calls``,
arguments as a JSON string or an object), ``messages`` (OpenAI messages with ``tool`` results and
``tool_call_id``), and three ways of writing calls inside assistant text: ``text`` (``tool_call: NAME`` /
``arguments: {json}``, optionally ``Result: {json}`` and a reply), ``hermes`` (``<tool_call>{json}</tool_call>``)
and ``mistral`` (``[TOOL_CALLS] [...]``). Real-world mess is reported as findings, never raised.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from toolset.data import Conversation, Finding, Message, ToolCall
from toolset.errors import ToolsetError

try:  # about twice as fast as json on chat JSONL; the results are the same without it
    from orjson import loads as _orjson_loads
except ImportError:  # a dependency of toolset-core, but the reader does not need it
    _orjson_loads = None

FORMATS = ("conversations", "messages", "text", "hermes", "mistral")
LONG_LINE_BYTES = 1_000_000
ROLES = {"system", "user", "assistant", "tool"}
_BOM = b"\xef\xbb\xbf"
_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_TEXT_CALL = re.compile(r"^\s*tool_call:\s*(?P<name>[\w.\-]+)\s*\n\s*arguments:\s*", re.MULTILINE)
_DECODER = json.JSONDecoder()
_FAILED = object()
# Digits to "0", every other byte to a space: a run of 19 zeros then marks a number orjson could read as a float.
_DIGIT_RUNS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_DIGITS = b"0" * 19


def _fast_loads(data: str | bytes) -> Any:
    """What ``json.loads`` returns, parsed by orjson, or ``_FAILED`` where orjson might differ from json.

    orjson refuses some JSON that json accepts (NaN and Infinity, lone surrogate escapes, deep nesting) and
    all invalid JSON, and reads integers beyond 64 bits as floats: for those, and for any 19-digit run, the
    caller parses with json, for json's exact result or error (message, line, column).
    """
    if _orjson_loads is None:
        return _FAILED
    if isinstance(data, str):
        try:
            data = data.encode()
        except UnicodeEncodeError:  # lone surrogates
            return _FAILED
    if _LONG_DIGITS in data.translate(_DIGIT_RUNS):  # 1 ms per MiB; a sampled check was no faster
        return _FAILED
    try:
        return _orjson_loads(data)
    except ValueError:  # orjson.JSONDecodeError
        return _FAILED


def _loads(text: str) -> Any:
    """``json.loads(text)``: orjson when it gives the same result, else json (for its exact result or error)."""
    value = _fast_loads(text)
    return json.loads(text) if value is _FAILED else value


class BadJSON(ValueError):
    """JSON a tool-calling client cannot take: invalid, too deep, a number json refuses, or NaN / Infinity."""

    def __init__(self, msg: str, pos: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pos = pos  # the character where invalid JSON stops making sense; None for the other kinds


NON_FINITE = "NaN, Infinity or a number beyond a double's range: JSON.parse (every MCP client) rejects them"


def finite(value: Any) -> bool:
    """Whether no float in ``value`` (nested dicts and lists, walked without recursion) is NaN or infinite."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True


def strict_json(parse: Any, text: str) -> Any:
    """``parse(text)`` (``_loads`` or a decoder's ``raw_decode``) with every way tool-call JSON can fail raised as
    :class:`BadJSON`: invalid JSON, a number too long for Python's int, nesting too deep, and NaN / Infinity /
    numbers beyond a double, which Python accepts but JSON.parse does not."""
    try:
        value = parse(text)
    except json.JSONDecodeError as exc:
        raise BadJSON(exc.msg, exc.pos) from None
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise BadJSON(f"a number too long to read ({str(exc).split(';')[0]})") from None
    except RecursionError:
        raise BadJSON("nested too deeply to read") from None
    if not finite(value):
        raise BadJSON(NON_FINITE)
    return value


@attrs.define
class ReadSummary:
    """Counts for one or more files: conversations read and findings per code."""

    conversations: int = 0
    findings: Counter = attrs.Factory(Counter)

    def __str__(self) -> str:
        found = ", ".join(f"{code} {count}" for code, count in sorted(self.findings.items())) or "no problems"
        return f"{self.conversations} conversations; {found}"


def summarize(findings: Iterable[Finding], conversations: int) -> ReadSummary:
    return ReadSummary(conversations, Counter(finding.code for finding in findings))


def sample_path(name: str) -> Path:
    """A dataset bundled with toolset-core (``claudesidian_sft.jsonl``, ``claudesidian_kto.jsonl``)."""
    from importlib import resources

    path = Path(str(resources.files("toolset") / "samples" / name))
    if not path.is_file():
        raise ToolsetError(f"no bundled sample {name!r}")
    return path


def detect_record(record: dict[str, Any]) -> str:
    """The format of one parsed JSONL record."""
    if isinstance(record.get("messages"), list):
        return "messages"
    messages = record.get("conversations")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, str) and not message.get("tool_calls"):
            # the style whose marker comes first: a call's arguments may hold another style's marker as text
            found = [
                (content.find(marker), fmt) for marker, fmt in (("<tool_call>", "hermes"), ("[TOOL_CALLS]", "mistral"))
            ]
            text = _TEXT_CALL.search(content) if "tool_call:" in content else None  # the literal first: quick
            found += [(text.start(), "text")] if text else []
            found = [(position, fmt) for position, fmt in found if position >= 0]
            if found:
                return min(found)[1]
    return "conversations"


def detect_format(path: str | Path, sample: int = 50) -> str:
    """The most common format among the first ``sample`` records of a file."""
    counts: Counter = Counter()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # JSONDecodeError, too many digits, too deep
                continue
            if isinstance(record, dict):
                counts[detect_record(record)] += 1
            if sum(counts.values()) >= sample:
                break
    return counts.most_common(1)[0][0] if counts else "conversations"


def read_conversations(
    path: str | Path, *, format: str = "auto", findings: list[Finding] | None = None
) -> Iterator[Conversation]:
    """Yield the conversations of a JSONL file; problems are appended to ``findings`` with file and line.

    A ``.json`` file holding one JSON document (a list of records, or one record) is read as such, each
    record numbered by the line it starts on; one that holds no conversations is a single finding.
    """
    findings = findings if findings is not None else []
    if str(path).lower().endswith(".json") or _starts_a_document(Path(path)):
        records = read_json_document(path, findings)
        if records is not None:  # else the .json file is JSON Lines after all
            yield from _conversations(records, path, format, findings)
            return
    tally = LineTally()
    yield from read_span(path, format=format, findings=findings, tally=tally)
    findings += tally.findings(str(path))


def _starts_a_document(path: Path) -> bool:
    """Whether the first non-blank line is a lone ``[`` or ``{``: a pretty-printed JSON document, which read line
    by line would give one error per line (read as one document instead)."""
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.strip().removeprefix(_BOM)
            if line:
                return line in (b"[", b"{")
    return False


def read_json_document(path: str | Path, findings: list[Finding]) -> list[tuple[int, Any]] | None:
    """``(line, record)`` of a file holding one JSON document; ``None`` if it is JSON Lines instead.

    A list gives its items; an object with ``conversations`` or ``messages`` is one record; anything else,
    such as a tool schema file or a prompt set, gives no record and a ``file.not_conversations`` finding.
    """
    path = Path(path)
    _check_path(path)
    source = str(path)

    def report(code: str, message: str, line: int | None = None, **where: Any) -> None:
        severity = where.pop("severity", "warning")
        findings.append(Finding(code=code, message=message, severity=severity, source=source, line=line, **where))

    if utf16(path):
        report("encoding.utf16", UTF16_HINT, 1, severity="error")
        return []
    raw = path.read_bytes()
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
        report("file.bom", "UTF-8 byte order mark at the start of the file", 1, severity="info")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        report("encoding.invalid_utf8", f"bytes that are not UTF-8 at byte offset {exc.start}", None)
        text = raw.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            if isinstance(json.loads(first), dict):
                return None  # one object a line: JSON Lines in a .json file
        except (ValueError, RecursionError):
            pass
        if isinstance(exc, json.JSONDecodeError):
            message = f"invalid JSON: {exc.msg}"
            report("json.invalid", message, exc.lineno, column=exc.colno, severity="error")
        else:
            report("json.invalid", "invalid JSON: nested too deeply or a number too long", None, severity="error")
        return []
    if isinstance(document, dict) and ("conversations" in document or "messages" in document):
        return [(1, document)]
    if isinstance(document, list) and any(
        isinstance(item, dict) and ("conversations" in item or "messages" in item) for item in document
    ):
        return list(_items_with_lines(text))
    kind = f"a list of {len(document)} item(s)" if isinstance(document, list) else type(document).__name__
    if isinstance(document, dict):
        kind = f"an object with keys {', '.join(list(map(str, document))[:4])}{', …' if len(document) > 4 else ''}"
    report(
        "file.not_conversations",
        f"one JSON document ({kind}) with no 'conversations' or 'messages': nothing to read",
        1,
    )
    return []


def _items_with_lines(text: str) -> Iterator[tuple[int, Any]]:
    """The items of the JSON array ``text`` (already known to parse), each with the line it starts on."""
    position = len(text) - len(text.lstrip()) + 1  # after "["
    line = 1 + text.count("\n", 0, position)
    while True:
        while text[position] in " \t\r\n,":
            line += text[position] == "\n"
            position += 1
        if text[position] == "]":
            return
        item, end = _DECODER.raw_decode(text, position)
        yield line, item
        line += text.count("\n", position, end)
        position = end


def utf16(path: Path) -> str | None:
    """ "UTF-16" when the file starts like UTF-16 text (a UTF-16 byte order mark, or NUL bytes between the first
    characters), which no line of it would decode as: one finding for the file instead of one per line."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    bom = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    nul_between = len(head) == 4 and b"\x00\x00" in (head[0::2], head[1::2])  # big- or little-endian ASCII
    return "UTF-16" if bom or nul_between else None


UTF16_HINT = "the file is UTF-16, not UTF-8: save it as UTF-8 (for example: iconv -f UTF-16 -t UTF-8 IN > OUT)"


def _check_path(path: Path) -> None:
    if not path.is_file():
        raise ToolsetError(f"{path}: {not_a_file(path)}")


def not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a data file: not found, a symlink loop or a dangling link, or not a
    regular file (a folder, a FIFO, a device)."""
    import errno
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops back on itself: point it at a file"
        if os.path.islink(path):
            return f"a symbolic link to {os.readlink(path)}, which does not exist"
        return "file not found"
    if stat.S_ISDIR(mode):
        return "a folder, not a file: name the .jsonl files in it"
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket"
    return f"{kind}, not a regular file: toolset reads files it can read twice (copy the data to a file)"


def _conversations(
    records: Iterable[tuple[int, Any]], path: str | Path, format: str, findings: list[Finding]
) -> Iterator[Conversation]:
    """Conversations of parsed ``(line, record)`` pairs, as :func:`read_span` makes them of lines."""
    if format != "auto" and format not in FORMATS:
        raise ToolsetError(f"unknown data format {format!r}; known: auto, {', '.join(FORMATS)}")
    source = str(path)

    def report(code: str, message: str, line: int | None = None, **where: Any) -> None:
        severity = where.pop("severity", "warning")
        findings.append(Finding(code=code, message=message, severity=severity, source=source, line=line, **where))

    for number, record in records:
        conversation = _record(record, format, number, report)
        if conversation is not None:
            conversation.metadata["source"] = source
            conversation.metadata["line"] = number
            yield conversation


@attrs.define
class LineTally:
    """What :func:`read_span` counts for the findings about a whole file (CRLF, blank lines, final newline).

    Spans of one file read apart (in parallel) are :meth:`merge`-d in file order, then :meth:`findings`.
    """

    crlf: int = 0
    first_crlf: int | None = None
    blank: int = 0
    last: bytes = b""

    def merge(self, other: LineTally) -> None:
        self.crlf += other.crlf
        self.first_crlf = self.first_crlf or other.first_crlf
        self.blank += other.blank
        self.last = other.last or self.last

    def findings(self, source: str) -> list[Finding]:
        found: list[Finding] = []

        def report(code: str, message: str, line: int | None = None, *, severity: str) -> None:
            found.append(Finding(code=code, message=message, severity=severity, source=source, line=line))

        if self.crlf:
            text = f"{self.crlf} line(s) end with CRLF (first: line {self.first_crlf})"
            report("line.crlf", text, self.first_crlf, severity="info")
        if self.blank:
            report("line.blank", f"{self.blank} blank line(s) skipped", None, severity="info")
        if self.last and not self.last.endswith(b"\n"):
            report("file.no_final_newline", "the last line has no newline", None, severity="info")
        return found


def read_span(
    path: str | Path,
    *,
    format: str = "auto",
    findings: list[Finding],
    tally: LineTally,
    start: int = 0,
    stop: int | None = None,
    first_line: int = 1,
) -> Iterator[Conversation]:
    """:func:`read_conversations` for the lines in bytes ``start``-``stop`` of a file (both at line starts),
    numbered from ``first_line``. Per-line findings go to ``findings``; file-wide counts to ``tally``.
    """
    path = Path(path)
    if format != "auto" and format not in FORMATS:
        raise ToolsetError(f"unknown data format {format!r}; known: auto, {', '.join(FORMATS)}")
    _check_path(path)
    source = str(path)

    def report(code: str, message: str, line: int | None = None, **where: Any) -> None:
        severity = where.pop("severity", "warning")
        findings.append(Finding(code=code, message=message, severity=severity, source=source, line=line, **where))

    if utf16(path):
        if not start:  # the first span says it once
            report("encoding.utf16", UTF16_HINT, 1, severity="error")
        return
    offset = start
    with open(path, "rb") as handle:
        if start:
            handle.seek(start)
        for number, raw in enumerate(handle, first_line):
            if stop is not None and offset >= stop:
                break
            begin, offset = offset, offset + len(raw)
            tally.last = raw
            if number == 1 and raw.startswith(_BOM):
                report("file.bom", "UTF-8 byte order mark at the start of the file", 1, severity="info")
                raw = raw[len(_BOM) :]
            if raw.endswith(b"\r\n"):
                tally.crlf += 1
                tally.first_crlf = tally.first_crlf or number
            if len(raw) > LONG_LINE_BYTES:
                report("line.too_long", f"line is {len(raw):,} bytes long", number)
            # orjson parses valid UTF-8 bytes holding JSON; it refuses blank lines and anything json might read
            # differently, which then takes the exact path below.
            record = _fast_loads(raw)
            if record is _FAILED:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    at = begin + exc.start
                    report("encoding.invalid_utf8", f"bytes that are not UTF-8 at byte offset {at}", number)
                    text = raw.decode("utf-8", errors="replace")
                if not text.strip():
                    tally.blank += 1
                    continue
                try:
                    record = json.loads(text.rstrip("\r\n"))
                except json.JSONDecodeError as exc:
                    report("json.invalid", f"invalid JSON: {exc.msg}", number, column=exc.colno, severity="error")
                    continue
                except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits; nesting too deep
                    reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
                    report("json.invalid", f"invalid JSON: {reason}", number, severity="error")
                    continue
            if raw.count(b'"conversations"') > 1 or raw.count(b'"messages"') > 1:
                _repeated_keys(raw, number, report)
            conversation = _record(record, format, number, report)
            if conversation is not None:
                conversation.metadata["source"] = source
                conversation.metadata["line"] = number
                yield conversation


def _repeated_keys(raw: bytes, number: int, report: Any) -> None:
    """Keys given twice in one object of the record (JSON readers keep only the last: a second
    ``"conversations": []`` empties the conversation), each an error. Only lines naming ``conversations`` or
    ``messages`` twice are parsed again to look."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _value in items:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(raw.decode("utf-8", errors="replace"), object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return
    for key in repeated:
        report(
            "record.duplicate_key",
            f"key {key!r} appears twice in one object: JSON readers keep only the last one",
            number,
            field=key,
            severity="error",
        )


def _record(record: Any, format: str, number: int, report: Any) -> Conversation | None:
    if not isinstance(record, dict):
        kind = type(record).__name__
        report("record.not_object", f"a JSON object is expected, not {kind}", number, severity="error")
        return None
    return _convert(record, format if format != "auto" else detect_record(record), number, report)


def _convert(record: dict[str, Any], fmt: str, number: int, report: Any) -> Conversation | None:
    key = "messages" if fmt == "messages" or "conversations" not in record else "conversations"
    raw_messages = record.get(key)
    if not isinstance(raw_messages, list):
        report("record.no_messages", "no 'conversations' or 'messages' list", number, field=key, severity="error")
        return None
    messages: list[Message] = []
    plain = fmt not in ("hermes", "mistral", "text")  # no calls to look for inside assistant text
    for index, raw in enumerate(raw_messages):
        role = raw.get("role") if isinstance(raw, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            field = f"{key}[{index}]"
            report("message.bad_role", f"role must be one of {sorted(ROLES)}", number, field=field, severity="error")
            continue
        content = raw.get("content")
        if (
            not raw.get("tool_calls")
            and (content is None or content.__class__ is str)
            and (role != "assistant" or (content and plain))
        ):  # the common message: what _message would return, without its checks
            message = Message(
                role=role, content=content, tool_calls=[], tool_call_id=raw.get("tool_call_id"), name=raw.get("name")
            )
            messages.append(message)
            continue
        messages += _message(raw, fmt, number, key, index, report)
    label = record.get("label")
    if label is not None and not isinstance(label, bool):
        report("label.not_bool", f"label must be true or false, not {label!r}", number, field="label", severity="error")
        label = None
    for message in messages:  # a loop: faster than any() over a generator
        if message.role == "assistant":
            break
    else:
        report("conversation.no_assistant", "no assistant turn", number, field=key)
    metadata = {k: v for k, v in record.items() if k not in {"conversations", "messages", "label", "tools"}}
    tools = record.get("tools")
    if not isinstance(tools, list):
        tools = []
    return Conversation(messages=messages, tools=tools, label=label, metadata=metadata)


def _message(raw: dict[str, Any], fmt: str, number: int, key: str, index: int, report: Any) -> list[Message]:
    role, content = raw["role"], raw.get("content")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False)
    raw_calls = raw.get("tool_calls")
    calls: list[ToolCall] = []
    if raw_calls:
        if isinstance(raw_calls, list):
            calls = [
                _structured_call(call, number, f"{key}[{index}].tool_calls[{i}]", report)
                for i, call in enumerate(raw_calls)
            ]
        else:
            text = f"tool_calls must be a list, not {type(raw_calls).__name__}"
            report("message.bad_tool_calls", text, number, field=f"{key}[{index}]", severity="error")
    if role == "assistant" and content is None and not calls:
        field = f"{key}[{index}]"
        report("message.null_content", "assistant message with no content and no tool calls", number, field=field)
    message = Message(
        role=role, content=content, tool_calls=calls, tool_call_id=raw.get("tool_call_id"), name=raw.get("name")
    )
    if role != "assistant" or calls or not content:
        return [message]
    field = f"{key}[{index}]"
    if fmt == "hermes" and "<tool_call>" in content:
        return [_hermes(message, number, field, report)]
    if fmt == "mistral" and "[TOOL_CALLS]" in content:
        return [_mistral(message, number, field, report)]
    if fmt == "text" and _TEXT_CALL.search(content):
        return _text_style(message, number, field, report)
    return [message]


def _arguments(value: Any, number: int, field: str, report: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(value, dict):
        if not finite(value):
            report("arguments.invalid_json", f"arguments hold {NON_FINITE}", number, field=field, severity="error")
            return {}, json.dumps(value)
        return value, None
    if isinstance(value, str):
        try:
            parsed = {} if not value or value.isspace() else strict_json(_loads, value)  # blank: no arguments
        except BadJSON as exc:
            report(
                "arguments.invalid_json",
                f"arguments are not valid JSON: {exc.msg}",
                number,
                field=field,
                severity="error",
            )
            return {}, value
        if isinstance(parsed, dict):
            return parsed, None
    report(
        "arguments.not_object",
        f"arguments must be a JSON object, not {value!r:.60}",
        number,
        field=field,
        severity="error",
    )
    return {}, value if isinstance(value, str) else json.dumps(value)


def _structured_call(call: Any, number: int, field: str, report: Any) -> ToolCall:
    function = call.get("function", call) if isinstance(call, dict) else {}
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        report("call.no_name", "tool call without a function name", number, field=field, severity="error")
        name = ""
    arguments, raw = _arguments(
        function.get("arguments", {}) if isinstance(function, dict) else {}, number, f"{field}.arguments", report
    )
    return ToolCall(
        name=name, arguments=arguments, id=call.get("id") if isinstance(call, dict) else None, raw_arguments=raw
    )


def _json_call(text: str, number: int, field: str, report: Any) -> ToolCall:
    try:
        data = strict_json(_loads, text)
    except BadJSON as exc:
        report(
            "arguments.invalid_json", f"tool call is not valid JSON: {exc.msg}", number, field=field, severity="error"
        )
        return ToolCall(name="", raw_arguments=text)
    if not isinstance(data, dict):
        report("arguments.not_object", "tool call must be a JSON object", number, field=field, severity="error")
        return ToolCall(name="", raw_arguments=text)
    return _structured_call(
        {"function": {"name": data.get("name"), "arguments": data.get("arguments", {})}}, number, field, report
    )


def _hermes(message: Message, number: int, field: str, report: Any) -> Message:
    content = message.content or ""
    message.tool_calls = [
        _json_call(body, number, f"{field}.tool_calls[{i}]", report) for i, body in enumerate(_HERMES.findall(content))
    ]
    message.content = _HERMES.sub("", content).strip() or None
    return message


def _mistral(message: Message, number: int, field: str, report: Any) -> Message:
    before, _, after = (message.content or "").partition("[TOOL_CALLS]")
    try:
        calls, end = strict_json(_DECODER.raw_decode, after.strip())
    except BadJSON as exc:
        report(
            "arguments.invalid_json",
            f"[TOOL_CALLS] is not followed by valid JSON: {exc.msg}",
            number,
            field=field,
            severity="error",
        )
        return message
    calls = calls if isinstance(calls, list) else [calls]
    message.tool_calls = [
        _json_call(json.dumps(c), number, f"{field}.tool_calls[{i}]", report) for i, c in enumerate(calls)
    ]
    rest = after.strip()[end:].strip()
    message.content = (before.strip() + ("\n" + rest if rest else "")).strip() or None
    return message


def _text_style(message: Message, number: int, field: str, report: Any) -> list[Message]:
    content = message.content or ""
    match = _TEXT_CALL.search(content)
    assert match is not None
    tail = content[match.end() :]
    try:
        arguments, end = strict_json(_DECODER.raw_decode, tail)
    except BadJSON as exc:
        report(
            "arguments.invalid_json", f"arguments are not valid JSON: {exc.msg}", number, field=field, severity="error"
        )
        return [Message(role="assistant", tool_calls=[ToolCall(name=match["name"], raw_arguments=tail.strip())])]
    call = ToolCall(
        name=match["name"], arguments=arguments if isinstance(arguments, dict) else {}, id=f"call_{number}_0"
    )
    before = content[: match.start()].strip() or None
    out = [Message(role="assistant", content=before, tool_calls=[call])]
    rest = tail[end:].lstrip()
    if rest.startswith("Result:"):
        result_text = rest[len("Result:") :].lstrip()
        try:
            result, result_end = strict_json(_DECODER.raw_decode, result_text)
            out.append(Message(role="tool", content=json.dumps(result, ensure_ascii=False), tool_call_id=call.id))
            rest = result_text[result_end:].strip()
        except BadJSON:
            report("result.invalid_json", "Result: is not followed by valid JSON", number, field=field)
            rest = result_text.strip()
    if rest.strip():
        out.append(Message(role="assistant", content=rest.strip()))
    return out


def to_dataset(conversations: Iterable[Conversation]):
    """A ``datasets.Dataset`` of the conversations in the ``messages`` shape (imports datasets lazily)."""
    import datasets

    from toolset.data.writers import to_record

    return datasets.Dataset.from_list([to_record(c, "messages") for c in conversations])
