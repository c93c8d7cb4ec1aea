"""Check conversations' tool calls against a tool set: JSON Schema per tool, then the tool set's rules.

Every problem is a :class:`toolset.data.Finding` with a stable code (see ``docs/validation.md``), a
severity, the file and line of the conversation and a field path such as
``tool_calls[0].arguments.context.sessionId`` (``tool_calls[i]`` counts the conversation's calls in order).
KTO lines labelled ``false`` are deliberately wrong: their findings are kept apart as ``info``.
"""

from __future__ import annotations

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
        return not any(f.severity == "error" for f in self.findings)


@attrs.define
class Report:
    """Everything one validation run found, and the counts its summary shows."""

    toolset: str
    strict: bool = False
    files: list[str] = attrs.Factory(list)
    results: list[ConversationResult] = attrs.Factory(list)
    reader_findings: list[Finding] = attrs.Factory(list)

    @property
    def findings(self) -> list[Finding]:
        """Reader findings, then every conversation's (expected KTO findings excluded)."""
        return [*self.reader_findings, *(f for r in self.results for f in r.findings)]

    @property
    def expected_findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.expected]

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def summary(self) -> dict[str, Any]:
        checked = len(self.results)
        valid = sum(r.valid for r in self.results)
        by_tool: Counter[str] = Counter()
        for result in self.results:
            by_tool.update(tool for tool in result.tools if tool)
        findings = self.findings
        summary: dict[str, Any] = {
            "files": len(self.files),
            "conversations": checked,
            "tool_calls": sum(r.tool_calls for r in self.results),
            "valid": valid,
            "valid_percent": round(100.0 * valid / checked, 2) if checked else 100.0,
            "errors": sum(f.severity == "error" for f in findings),
            "warnings": sum(f.severity == "warning" for f in findings),
            "by_code": dict(Counter(f.code for f in findings).most_common()),
            "by_tool": dict(by_tool.most_common()),
        }
        labelled = [r for r in self.results if r.label is not None]
        if any(r.label is False for r in labelled):  # KTO data (SFT lines may carry label=true too)
            desirable = [r for r in labelled if r.label]
            undesirable = [r for r in labelled if not r.label]
            summary["kto"] = {
                "desirable": len(desirable),
                "desirable_valid": sum(r.valid for r in desirable),
                "undesirable": len(undesirable),
                "undesirable_with_errors": sum(not r.valid for r in undesirable),
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
    """Checks tool calls against ``catalog``; JSON Schema validators are built once per tool."""

    def __init__(self, catalog: ToolCatalog, *, strict: bool = False) -> None:
        from jsonschema import Draft202012Validator

        self.catalog = catalog
        self.strict = strict
        self._validators = {tool.name: Draft202012Validator(tool.parameters) for tool in catalog.tools}

    def check_call(self, call: ToolCall, conversation: Conversation | None = None) -> list[Finding]:
        """Findings for one call; fields are relative to the call (``arguments.…``, ``name``)."""
        conversation = conversation or Conversation()
        if call.raw_arguments is not None:
            return [Finding(code="arguments-not-json", message=_not_json(call.raw_arguments), field="arguments")]
        if not isinstance(call.arguments, dict):
            kind = type(call.arguments).__name__
            return [Finding(code="arguments-not-object", message=f"arguments is a {kind}", field="arguments")]
        validator = self._validators.get(call.name)
        if validator is None:
            guess = closest(call.name, self._validators)
            hint = f" (did you mean {guess}?)" if guess else ""
            message = f"unknown tool {call.name!r} in tool set {self.catalog.name}{hint}"
            return [Finding(code="unknown-tool", message=message, field="name")]
        findings: list[Finding] = []
        for error in validator.iter_errors(call.arguments):
            findings += self._schema_findings(error, call.name)
        for rule in self.catalog.rules:
            try:
                findings += list(rule(call, conversation))
            except Exception as exc:
                name = getattr(rule, "__name__", repr(rule))
                findings.append(Finding(code="rule-failed", message=f"rule {name} raised {type(exc).__name__}: {exc}"))
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
                guess = closest(name, known)
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
        result = ConversationResult(conversation.source, conversation.line, conversation.label, len(calls))
        for index, call in enumerate(calls):
            for finding in self.check_call(call, conversation):
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
        for conversation in conversations:
            report.results.append(self.check_conversation(conversation))
        return report


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_json(raw: str) -> str:
    import json

    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"arguments are not valid JSON ({exc.msg} at character {exc.pos}): {_short(raw, 60)!r}"
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
            raise ToolsetError(f"{path}: no such file or folder")
    return files


def validate_files(
    paths: Sequence[Path],
    *,
    toolset: str = "claudesidian",
    format: str = "auto",
    strict: bool = False,
    catalog: ToolCatalog | None = None,
) -> Report:
    """Read every file with :func:`toolset.readers.read_conversations` and validate what it yields."""
    files = expand_paths(paths)
    try:
        from toolset.readers import read_conversations
    except ImportError as exc:  # the core reader ships with toolset-core
        raise ToolsetError(f"this toolset-core has no conversation reader (toolset.readers): {exc}") from None
    catalog = catalog or load_catalog(toolset)
    validator = Validator(catalog, strict=strict)
    report = Report(toolset=catalog.name, strict=strict, files=[str(f) for f in files])
    for file in files:
        validator.validate(read_conversations(file, format=format, findings=report.reader_findings), report)
    return report


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
    yield (
        f"{summary['conversations']} conversation(s), {summary['tool_calls']} tool call(s) in {summary['files']} "
        f"file(s) checked against {report.toolset}{' (strict)' if report.strict else ''}: "
        f"{summary['valid']} valid ({summary['valid_percent']}%), "
        f"{summary['errors']} error(s), {summary['warnings']} warning(s)"
    )
    if summary["by_code"]:
        yield "by code: " + ", ".join(f"{code} {n}" for code, n in summary["by_code"].items())
    if summary["by_tool"]:
        yield "by tool: " + ", ".join(f"{tool} {n}" for tool, n in list(summary["by_tool"].items())[:10])
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
