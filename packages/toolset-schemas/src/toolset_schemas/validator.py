"""Check conversations' tool calls against a tool set: JSON Schema per tool, then the tool set's rules.

Every problem is a :class:`toolset.data.Finding` with a stable code (see ``docs/validation.md``), a
severity, the file and line of the conversation and a field path such as
``tool_calls[0].arguments.context.sessionId`` (``tool_calls[i]`` counts the conversation's calls in order).
KTO lines labelled ``false`` are deliberately wrong: their findings are kept apart as ``info``.
"""

from __future__ import annotations

import gc
import os
import pickle
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from toolset.components import ToolCatalog
from toolset.data import Conversation, Finding, ToolCall
from toolset.errors import ToolsetError, closest

# Stable codes of the validator and of the Claudesidian rules, with what each means.
CODES: dict[str, str] = {
    "unknown-tool": "the call names a tool the tool set does not have",
    "arguments-not-json": "the call's arguments are not valid JSON",
    "arguments-not-object": "the call's arguments are JSON but not an object",
    "missing-required": "a required parameter (or context field) is absent",
    "wrong-type": "a value has the wrong JSON type",
    "bad-enum": "a value is not one of the allowed choices",
    "unexpected-parameter": "a parameter the tool does not declare (warning; error with --strict)",
    "bad-id-format": "a sessionId or workspaceId does not follow its format",
    "pattern-mismatch": "a string does not match its pattern",
    "schema-violation": "any other JSON Schema constraint (length, bounds, alternatives)",
    "rule-failed": "a tool-set rule raised an exception (a bug in the rule)",
    "context-not-first": "`context` is not the first argument key",
    "session-mismatch": "the context's sessionId differs from the system prompt's",
    "workspace-mismatch": "the context's workspaceId is neither the prompt's nor a listed workspace",
}
ID_FIELDS = ("sessionId", "workspaceId")


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


@attrs.define
class ConversationResult:
    """One conversation's findings; ``expected`` holds those of a KTO label=false line."""

    source: str | None
    line: int | None
    label: bool | None
    tool_calls: int
    findings: list[Finding] = attrs.Factory(list)
    expected: list[Finding] = attrs.Factory(list)
    tools: list[str | None] = attrs.Factory(list)
    expected_errors: int = 0

    @property
    def valid(self) -> bool:
        """No errors; for a label=false line, no errors before they were turned into expected ``info``."""
        if self.label is False:
            return self.expected_errors == 0
        return not self.findings or not any(f.severity == "error" for f in self.findings)


@attrs.define
class Report:
    """Everything one validation run found, and the counts its summary shows.

    Conversations are folded into counters as they are checked (:meth:`add`), so memory grows with the
    findings, not with the size of the files.
    """

    toolset: str
    strict: bool = False
    files: list[str] = attrs.Factory(list)
    reader_findings: list[Finding] = attrs.Factory(list)
    conversation_findings: list[Finding] = attrs.Factory(list)
    expected_findings: list[Finding] = attrs.Factory(list)
    counts: Counter[str] = attrs.Factory(Counter)
    by_tool: Counter[str] = attrs.Factory(Counter)

    def add(self, result: ConversationResult) -> None:
        counts = self.counts
        valid = result.valid
        counts["conversations"] += 1
        counts["tool_calls"] += result.tool_calls
        counts["valid"] += valid
        if result.label is True:
            counts["desirable"] += 1
            counts["desirable_valid"] += valid
        elif result.label is False:
            counts["undesirable"] += 1
            counts["undesirable_with_errors"] += not valid
        if result.tools:
            self.by_tool.update(tool for tool in result.tools if tool)
        if result.findings:
            self.conversation_findings += result.findings
        if result.expected:
            self.expected_findings += result.expected

    def add_clean(self, label: bool | None, tool_calls: int) -> None:
        """:meth:`add` for a conversation without findings (no result object to build)."""
        counts = self.counts
        counts["conversations"] += 1
        counts["tool_calls"] += tool_calls
        counts["valid"] += True
        if label is True:
            counts["desirable"] += 1
            counts["desirable_valid"] += True
        elif label is False:
            counts["undesirable"] += 1
            counts["undesirable_with_errors"] += False

    @property
    def findings(self) -> list[Finding]:
        """Reader findings, then every conversation's (expected KTO findings excluded)."""
        return [*self.reader_findings, *self.conversation_findings]

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        checked, valid = counts["conversations"], counts["valid"]
        findings = self.findings
        summary: dict[str, Any] = {
            "files": len(self.files),
            "conversations": checked,
            "tool_calls": counts["tool_calls"],
            "valid": valid,
            "valid_percent": round(100.0 * valid / checked, 2) if checked else 100.0,
            "errors": sum(f.severity == "error" for f in findings),
            "warnings": sum(f.severity == "warning" for f in findings),
            "by_code": dict(Counter(f.code for f in findings).most_common()),
            "by_tool": dict(self.by_tool.most_common()),
        }
        if counts["undesirable"]:  # KTO data (SFT lines may carry label=true too)
            summary["kto"] = {
                "desirable": counts["desirable"],
                "desirable_valid": counts["desirable_valid"],
                "undesirable": counts["undesirable"],
                "undesirable_with_errors": counts["undesirable_with_errors"],
                "expected_by_code": dict(Counter(f.code for f in self.expected_findings).most_common()),
            }
        return summary

    def to_json(self) -> dict[str, Any]:
        return {
            "toolset": self.toolset,
            "strict": self.strict,
            "files": self.files,
            "summary": self.summary(),
            "findings": [attrs.asdict(f) for f in self.findings],
            "expected_findings": [attrs.asdict(f) for f in self.expected_findings],
        }


class Validator:
    """Checks tool calls against ``catalog``, each tool's schema compiled once.

    Schemas within the subset :mod:`toolset_schemas.schema_compiler` compiles are checked by it (same findings as
    ``jsonschema``, several times faster); any other schema by ``jsonschema``'s Draft 2020-12 validator,
    imported only when such a schema is met.
    """

    def __init__(self, catalog: ToolCatalog, *, strict: bool = False) -> None:
        from toolset_schemas.schema_compiler import UNRESOLVABLE, compile_validator, unresolvable_refs

        self.catalog = catalog
        self.strict = strict
        self._schemas = {tool.name: tool.parameters for tool in catalog.tools}
        compiled = {name: compile_validator(schema) for name, schema in self._schemas.items()}
        for name in (name for name, pair in compiled.items() if pair is None):  # left to jsonschema
            for path, ref in unresolvable_refs(self._schemas[name]):
                where = f"tool set {catalog.name}, tool {name}: parameters{path}.$ref"
                raise ToolsetError(f"{where} {ref!r} {UNRESOLVABLE}")
        self._compiled = {name: None if pair is None else pair[0] for name, pair in compiled.items()}
        self._tests = {name: pair[1] for name, pair in compiled.items() if pair is not None}
        self._jsonschema: dict[str, Any] = {}
        self._hints: dict[tuple[str, tuple[str, ...]], str | None] = {}

    def _errors(self, name: str, arguments: dict[str, Any]) -> Iterable[Any]:
        compiled = self._compiled[name]
        if compiled is not None:
            test = self._tests.get(name)
            if test is not None and test(arguments):  # valid: no need to build the errors
                return ()
            return compiled(arguments, ())
        if name not in self._jsonschema:
            from jsonschema import Draft202012Validator

            self._jsonschema[name] = Draft202012Validator(self._schemas[name])
        return self._jsonschema[name].iter_errors(arguments)

    def _closest(self, name: str, known: Iterable[str]) -> str | None:
        key = (name, tuple(known))
        if key not in self._hints:
            self._hints[key] = closest(name, key[1])
        return self._hints[key]

    def check_call(self, call: ToolCall, conversation: Conversation | None = None) -> list[Finding]:
        """Findings for one call; fields are relative to the call (``arguments.…``, ``name``)."""
        conversation = conversation or Conversation()
        if call.raw_arguments is not None:
            return [Finding(code="arguments-not-json", message=_not_json(call.raw_arguments), field="arguments")]
        if not isinstance(call.arguments, dict):
            kind = type(call.arguments).__name__
            return [Finding(code="arguments-not-object", message=f"arguments is a {kind}", field="arguments")]
        if call.name not in self._compiled:
            guess = self._closest(call.name, self._compiled)
            hint = f" (did you mean {guess}?)" if guess else ""
            message = f"unknown tool {call.name!r} in tool set {self.catalog.name}{hint}"
            return [Finding(code="unknown-tool", message=message, field="name")]
        findings: list[Finding] = []
        seen: set[tuple[str, str | None]] = set()
        for error in self._errors(call.name, call.arguments):
            for finding in self._schema_findings(error, call.name):
                if (finding.code, finding.field) not in seen:  # one `required` error per missing name lists all
                    seen.add((finding.code, finding.field))
                    findings.append(finding)
        for rule in self.catalog.rules:
            try:
                found = rule(call, conversation)
                if found.__class__ is not list:  # a generator: run it here, where its errors are caught
                    found = list(found)
            except Exception as exc:
                name = getattr(rule, "__name__", repr(rule))
                findings.append(Finding(code="rule-failed", message=f"rule {name} raised {type(exc).__name__}: {exc}"))
                continue
            if found:
                findings += found
        return findings

    def _schema_findings(self, error: Any, tool: str) -> list[Finding]:
        where = "arguments" + _path(error.absolute_path)
        kind = error.validator
        if kind == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            return [
                Finding(
                    code="missing-required", message=f"{tool}: required {name!r} is missing", field=f"{where}.{name}"
                )
                for name in missing
            ]
        if kind == "additionalProperties":
            known = list(error.schema.get("properties", {}))
            severity = "error" if self.strict else "warning"
            findings = []
            for name in [key for key in error.instance if key not in known]:
                guess = self._closest(name, known)
                hint = f" (did you mean {guess}?)" if guess else ""
                scope = "context" if where.endswith(".context") else tool
                findings.append(
                    Finding(
                        code="unexpected-parameter",
                        message=f"{scope} does not declare {name!r}{hint}",
                        severity=severity,
                        field=f"{where}.{name}",
                    )
                )
            return findings
        if kind in ("anyOf", "oneOf") and error.context:
            # Report why the alternative of the right type failed; if none has the right type, the type is wrong.
            typed = [e for e in error.context if e.validator != "type" or len(e.relative_path) > 0]
            if typed:
                return [f for e in typed for f in self._schema_findings(e, tool)]
        if kind == "type":
            code = "wrong-type"
        elif kind in ("enum", "const"):
            code = "bad-enum"
        elif kind == "pattern":
            code = (
                "bad-id-format" if error.absolute_path and error.absolute_path[-1] in ID_FIELDS else "pattern-mismatch"
            )
        elif kind in ("anyOf", "oneOf") and error.context:
            code = "wrong-type"
        else:
            code = "schema-violation"
        return [Finding(code=code, message=f"{tool}: {_short(error.message)}", field=where)]

    def check_conversation(self, conversation: Conversation) -> ConversationResult:
        calls = conversation.tool_calls
        return self._result(conversation, calls, [self.check_call(call, conversation) for call in calls])

    def _result(
        self, conversation: Conversation, calls: list[ToolCall], call_findings: list[list[Finding]]
    ) -> ConversationResult:
        result = ConversationResult(conversation.source, conversation.line, conversation.label, len(calls))
        for index, (call, findings) in enumerate(zip(calls, call_findings, strict=True)):
            for finding in findings:
                finding.field = f"tool_calls[{index}]" + (f".{finding.field}" if finding.field else "")
                finding.source = finding.source or conversation.source
                finding.line = finding.line if finding.line is not None else conversation.line
                if conversation.label is False:
                    result.expected_errors += finding.severity == "error"
                    finding.message = f"(expected, label=false; was {finding.severity}) {finding.message}"
                    finding.severity = "info"
                    result.expected.append(finding)
                else:
                    result.findings.append(finding)
                    result.tools.append(call.name)
        return result

    def validate(self, conversations: Iterable[Conversation], report: Report) -> Report:
        check_call = self.check_call
        for conversation in conversations:
            calls = conversation.tool_calls
            call_findings = [check_call(call, conversation) for call in calls]
            if any(call_findings):
                report.add(self._result(conversation, calls, call_findings))
            else:  # most conversations: counted as report.add counts a result without findings
                report.add_clean(conversation.label, len(calls))
        return report


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_json(raw: str) -> str:
    import json

    from toolset.data.readers import BadJSON, strict_json

    try:
        strict_json(json.loads, raw)
    except BadJSON as exc:
        where = "" if exc.pos is None else f" at character {exc.pos}"
        return f"arguments are not valid JSON ({exc.msg}{where}): {_short(raw, 60)!r}"
    return f"arguments could not be read: {_short(raw, 60)!r}"


def load_catalog(name: str) -> ToolCatalog:
    """The catalog of registered tool set ``name`` (unknown names raise a did-you-mean error)."""
    from toolset.plugins import get_registries

    component = get_registries().toolsets.get(name)
    return component.factory(component.default_config())


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given; folders become their ``*.jsonl`` / ``*.json`` files. A missing path is an error."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".jsonl", ".json") and p.is_file())
            if not found:
                raise ToolsetError(f"{path}: folder has no .jsonl or .json files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            from toolset.data.readers import not_a_file

            reason = not_a_file(path)
            raise ToolsetError(f"{path}: {'no such file or folder' if reason == 'file not found' else reason}")
    return files


PROGRESS_BYTES = 4 * 1024 * 1024  # auto mode: a progress bar when the input is at least this big


def count_lines(path: Path, stop: int | None = None) -> int:
    """Newlines in a file, or in its first ``stop`` bytes (plus one for an unterminated last line), read in
    1 MiB blocks.
    """
    count, last, left = 0, b"\n", stop
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20 if left is None else min(1 << 20, left)):
            count += block.count(b"\n")
            last = block[-1:]
            left = None if left is None else left - len(block)
    return count + (last != b"\n")


def with_progress(
    conversations: Iterable[Conversation], path: Path, stream: Any = None, *, lines: int | None = None
) -> Iterator[Conversation]:
    """Pass ``conversations`` through while a tqdm bar on ``stream`` (stderr) follows their line numbers.

    ``lines``: the conversations cover only the first ``lines`` lines (this process's share of a file split
    over processes); the bar still counts the whole file's lines, advancing in proportion.
    """
    import sys

    from tqdm import tqdm

    total = count_lines(path)
    scale = total / lines if lines else 1.0
    bar = tqdm(total=total, unit="line", desc=path.name, file=stream or sys.stderr, leave=False, dynamic_ncols=True)
    done = 0
    try:
        for conversation in conversations:
            line = min(round((conversation.line or 0) * scale), total)
            if line > done:
                bar.update(line - done)
                done = line
            yield conversation
        bar.update(max(total - done, 0))
    finally:
        bar.close()


def show_progress(files: Sequence[Path], progress: bool | None) -> bool:
    """``progress`` if given; else on when stderr is a terminal and the files are big."""
    import sys

    if progress is not None:
        return progress
    return sys.stderr.isatty() and sum(f.stat().st_size for f in files) >= PROGRESS_BYTES


PARALLEL_BYTES = 1 << 20  # auto mode: one process per CPU (at most 4) and per MiB of a file


def choose_jobs(jobs: int | None, size: int) -> int:
    """Processes to validate a file of ``size`` bytes with: ``jobs`` if given, else one per CPU (at most
    4) and per MiB. More than one only where this process can fork safely (:func:`can_fork`).
    """
    if jobs is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
        jobs = min(cpus, 4, size // PARALLEL_BYTES)
    return max(jobs, 1) if jobs <= 1 or can_fork() else 1


def can_fork() -> bool:
    """Linux, and no other Python thread running (a fork copies no thread, whatever locks they hold)."""
    import sys
    import threading

    return sys.platform.startswith("linux") and threading.active_count() == 1


def split_lines(path: Path, parts: int) -> list[tuple[int, int | None, int]]:
    """``parts`` (or fewer) spans of whole lines of a file: ``(start byte, stop byte, first line number)``."""
    size = path.stat().st_size
    bounds = [0]
    with open(path, "rb") as handle:
        for part in range(1, parts):
            handle.seek(max(size * part // parts - 1, bounds[-1]))
            handle.readline()  # to the start of the next line
            if bounds[-1] < handle.tell() < size:
                bounds.append(handle.tell())
        spans, line = [], 1
        handle.seek(0)
        for start, stop in zip(bounds, [*bounds[1:], None], strict=True):
            spans.append((start, stop, line))
            while stop is not None and handle.tell() < stop:  # count the span's lines, 1 MiB at a time
                line += handle.read(min(1 << 20, stop - handle.tell())).count(b"\n")
    return spans


def _validate_span(
    validator: Validator, file: Path, format: str, span: tuple[int, int | None, int], bar: bool = False
) -> tuple[Report, Any]:
    """A partial report (no file-wide reader findings) and the line tally of one span of ``file``, the
    first span with a progress bar if ``bar``.
    """
    from toolset.data.readers import LineTally, read_span

    start, stop, first_line = span
    partial = Report(toolset=validator.catalog.name, strict=validator.strict)
    tally = LineTally()
    findings = partial.reader_findings
    conversations = read_span(
        file, format=format, findings=findings, tally=tally, start=start, stop=stop, first_line=first_line
    )
    if bar:
        lines = span[1] and count_lines(file, stop=span[1])
        conversations = with_progress(conversations, file, lines=lines)
    validator.validate(conversations, partial)
    return partial, tally


def _validate_forked(validator: Validator, file: Path, format: str, jobs: int, report: Report, bar: bool) -> None:
    """Validate ``file`` in ``jobs`` spans, all but the first in forked processes; merge in file order.

    The report is the one a single process makes. A worker that fails or dies has its span redone here.
    """
    from toolset.data.readers import LineTally

    spans = split_lines(file, jobs)
    children: list[tuple[int, int, tuple[int, int | None, int]]] = []
    try:
        for span in spans[1:]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: its span's results, pickled, then straight out (no cleanup, no flush)
                try:
                    os.close(read_end)
                    try:
                        payload = pickle.dumps(_validate_span(validator, file, format, span))
                    except BaseException:
                        payload = b""
                    with os.fdopen(write_end, "wb") as out:
                        out.write(payload)
                finally:
                    os._exit(0)
            os.close(write_end)
            children.append((pid, read_end, span))
        parts = [_validate_span(validator, file, format, spans[0], bar)]  # its bar stands for all: spans are alike
        while children:
            pid, read_end, span = children.pop(0)
            with os.fdopen(read_end, "rb") as pipe:
                payload = pipe.read()
            os.waitpid(pid, 0)
            try:
                parts.append(pickle.loads(payload))
            except Exception:  # the worker failed: its span again, here (a real error is raised here)
                parts.append(_validate_span(validator, file, format, span))
    finally:
        for pid, read_end, _ in children:  # interrupted: stop the workers still running
            os.close(read_end)
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    tally = LineTally()
    for partial, part_tally in parts:
        report.reader_findings += partial.reader_findings
        report.conversation_findings += partial.conversation_findings
        report.expected_findings += partial.expected_findings
        report.counts.update(partial.counts)
        report.by_tool.update(partial.by_tool)
        tally.merge(part_tally)
    report.reader_findings += tally.findings(str(file))


def validate_files(
    paths: Sequence[Path],
    *,
    toolset: str = "claudesidian",
    format: str = "auto",
    strict: bool = False,
    catalog: ToolCatalog | None = None,
    progress: bool | None = False,
    jobs: int | None = 1,
) -> Report:
    """Read every file with :func:`toolset.data.readers.read_conversations` and validate what it yields.

    ``progress``: a progress bar on stderr per file (``None``: when stderr is a terminal and files are big).
    ``jobs``: processes per file (``None``: :func:`choose_jobs` decides); the report is the same for any.
    """
    files = expand_paths(paths)
    try:
        from toolset.data.readers import read_conversations
    except ImportError as exc:  # the core reader ships with toolset-core
        raise ToolsetError(f"this toolset-core has no conversation reader (toolset.data.readers): {exc}") from None
    catalog = catalog or load_catalog(toolset)
    validator = Validator(catalog, strict=strict)
    report = Report(toolset=catalog.name, strict=strict, files=[str(f) for f in files])
    bar = show_progress(files, progress)
    # What is read and checked forms no reference cycles and is freed line by line: the cyclic garbage collector
    # would only walk it over and over (3% of the run), so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for file in files:
            processes = choose_jobs(jobs, file.stat().st_size)
            if processes > 1 and file.suffix.lower() != ".json":  # a .json document is not split into lines
                _validate_forked(validator, file, format, processes, report, bar)
                continue
            conversations = read_conversations(file, format=format, findings=report.reader_findings)
            validator.validate(with_progress(conversations, file) if bar else conversations, report)
    finally:
        if collecting:
            gc.enable()
    return report


def _table(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> Iterator[str]:
    """A blank line and a plain aligned table (numbers right-aligned), or nothing without rows."""
    if not rows:
        return
    cells = [[f"{value:,}" if isinstance(value, int) else str(value) for value in row] for row in rows]
    widths = [max(len(text) for text in column) for column in zip(header, *cells, strict=True)]
    numeric = [isinstance(value, int) for value in rows[0]]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    yield ""
    yield line(header)
    for row in cells:
        yield line(row)


def render(report: Report, *, show_expected: bool = False) -> Iterator[str]:
    """Human output: one line per finding, then the summary."""
    for finding in report.findings:
        yield str(finding)
    summary = report.summary()
    kto = summary.get("kto")
    if kto and show_expected:
        yield "expected findings in KTO label=false lines:"
        for finding in report.expected_findings:
            yield f"  {finding}"
    yield ""
    checked = (
        f"{summary['valid']} valid ({summary['valid_percent']}%)"
        if summary["conversations"]
        else "nothing to check (no conversation was read)"
    )
    yield (
        f"{summary['conversations']} conversation(s), {summary['tool_calls']} tool call(s) in {summary['files']} "
        f"file(s) checked against {report.toolset}{' (strict)' if report.strict else ''}: "
        f"{checked}, {summary['errors']} error(s), {summary['warnings']} warning(s)"
    )
    severities = {finding.code: finding.severity for finding in report.findings}
    codes = [(code, severities[code], count) for code, count in summary["by_code"].items()]
    yield from _table(("finding code", "severity", "count"), codes)
    tools = list(summary["by_tool"].items())
    shown = tools[:10]
    title = "tool (findings)" if len(tools) <= 10 else f"tool (findings; top 10 of {len(tools)})"
    yield from _table((title, "count"), shown)
    if kto:
        yield (
            f"KTO: {kto['desirable_valid']}/{kto['desirable']} label=true line(s) valid; "
            f"{kto['undesirable_with_errors']}/{kto['undesirable']} label=false line(s) have the errors they "
            f"are meant to have (not counted as failures"
            + ("" if show_expected else "; --show-expected lists them")
            + ")"
        )
        if kto["expected_by_code"]:
            yield "  expected by code: " + ", ".join(f"{c} {n}" for c, n in kto["expected_by_code"].items())
