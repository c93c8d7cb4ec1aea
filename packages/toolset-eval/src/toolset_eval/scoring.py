"""Schema-exact scoring of one answer against one prompt case (the BFCL AST-checker idea, on JSON Schema).

A case passes when its answer has no failure reason; :func:`ladder` says which rungs it reached on the way
(parses, right tools, schema-valid, context ids, expected values, full pass). Reasons carry stable codes
(``docs/evaluation.md``): ``parse.*`` (malformed answer), ``call.*`` (tool names, matched order-free),
``schema.*`` (arguments checked against the tool's JSON Schema and the tool set's rules by
``toolset_schemas.validator``), ``value.*`` (expected argument values), ``context.*`` (the context IDs
against the case's ``expected_context``), ``behavior.*`` / ``anti.*`` / ``response_type.*`` (behaviour
expectations), ``backend.error``.
Expectations no check knows are recorded as ``behavior.unsupported`` notes, which do not fail a case.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from toolset.components import ToolCatalog
from toolset.data import Conversation, Message, ToolCall
from toolset_eval.parsing import REASONS as PARSE_REASONS
from toolset_eval.parsing import ParseResult, harmony_prose, parse_response
from toolset_eval.prompts import PromptCase

DELEGATION_TOOL = "agentManager_executePrompt"
APPROPRIATE_LIMIT = (1, 50)
MINIMAL_EXPLANATION_CHARS = 200

REASONS: dict[str, str] = {
    **PARSE_REASONS,
    "call.missing_tool": "an expected tool was not called",
    "call.wrong_tool": "a different tool was called instead of an expected one",
    "call.unknown_tool": "a call names a tool the tool set does not have",
    "call.extra_call": "a call beyond the expected ones",
    "call.unexpected": "a tool was called where no call was expected (irrelevance / text-only cases)",
    "schema.missing_required": "a required parameter (or context field) is absent",
    "schema.unexpected_parameter": "a parameter the tool does not declare",
    "schema.wrong_type": "a value has the wrong JSON type",
    "schema.bad_enum": "a value is not one of the allowed choices",
    "schema.bad_id_format": "a sessionId or workspaceId does not follow its format",
    "schema.pattern_mismatch": "a string does not match its pattern",
    "schema.schema_violation": "another JSON Schema constraint failed (length, bounds, alternatives)",
    "schema.arguments_not_json": "the call's arguments are not valid JSON",
    "schema.arguments_not_object": "the call's arguments are not an object",
    "schema.context_not_first": "`context` is not the first argument (a tool-set rule)",
    "schema.rule_failed": "a tool-set rule raised an exception",
    "schema.session_mismatch": "sessionId differs from the system prompt's (cases without expected_context)",
    "schema.workspace_mismatch": "workspaceId is not one the system prompt gives (cases without expected_context)",
    "value.missing": "an argument the case expects a value for is absent",
    "value.mismatch": "an argument differs from the case's expected value (after normalisation)",
    "context.missing": "the call has no context object",
    "context.session_mismatch": "context.sessionId differs from the case's session_id",
    "context.workspace_mismatch": "context.workspaceId is neither the case's workspace_id nor in its workspace_ids",
    "behavior.does_not_call_tool": "the case expects no tool call, one was made",
    "behavior.asks_for_user_input": "the answer asks the user nothing (no question mark)",
    "behavior.session_memory_too_short": "context.sessionMemory is shorter than the case requires",
    "behavior.no_delegation": f"the case expects delegation with {DELEGATION_TOOL} (or the named tool)",
    "behavior.limit_not_appropriate": f"no integer `limit` within {APPROPRIATE_LIMIT[0]}..{APPROPRIATE_LIMIT[1]}",
    "behavior.no_tool_call": "the case expects a tool call, none was made",
    "behavior.too_much_explanation": f"more than {MINIMAL_EXPLANATION_CHARS} characters of text beside the call",
    "behavior.unsupported": "an expectation no check implements (a note: does not fail the case)",
    "anti.immediate_tool_call": "the answer called a tool straight away (an anti-pattern of the case)",
    "response_type.mismatch": "the answer is not of the expected type (text_only, tool_only, tool_text)",
    "backend.error": "the backend gave no answer (after retries)",
}


# The ladder: what an answer got right, rung by rung, each rung needing the ones before it. A model that learns
# climbs it long before it passes whole cases, so reports show each rung's rate beside the full pass.
LADDER: dict[str, str] = {
    "call": "parses as a call (or correctly makes none)",
    "tool": "right tool(s)",
    "schema": "arguments schema-valid",
    "context": "context ids right",
    "values": "expected values right",
    "pass": "full pass",
}
_CONTEXT_CODES = {"schema.session_mismatch", "schema.workspace_mismatch", "schema.bad_id_format"}
_TOOL_CODES = {"behavior.does_not_call_tool", "behavior.no_delegation", "anti.immediate_tool_call"}
_CALL_CODES = {"backend.error", "behavior.no_tool_call", "schema.arguments_not_json", "schema.arguments_not_object"}


def rung_broken(code: str) -> str:
    """The rung of :data:`LADDER` a failure reason breaks (behaviour checks break only the full pass)."""
    if code in _CALL_CODES or code.startswith("parse."):
        return "call"
    if code in _TOOL_CODES or code.startswith("call."):
        return "tool"
    if code in _CONTEXT_CODES or code.startswith("context."):
        return "context"
    if code.startswith("schema."):
        return "schema"
    if code.startswith("value."):
        return "values"
    return "pass"


def ladder(codes: Iterable[str]) -> dict[str, bool]:
    """Which rungs an answer with these failure codes reached: every rung below the lowest one broken."""
    rungs = list(LADDER)
    lowest = min((rungs.index(rung_broken(code)) for code in codes), default=len(rungs))
    return {rung: index < lowest for index, rung in enumerate(rungs)}


@attrs.frozen
class Reason:
    """A failure (or note) with its stable code, a message and, when it is about one, the tool."""

    code: str
    message: str
    tool: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **({"tool": self.tool} if self.tool else {})}


@attrs.frozen
class Score:
    passed: bool
    reasons: tuple[Reason, ...] = attrs.field(default=(), converter=tuple)
    notes: tuple[Reason, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class Answer:
    """What a check sees: the case, the parsed calls and the text beside them."""

    case: PromptCase
    parsed: ParseResult
    text: str

    @property
    def calls(self) -> tuple[ToolCall, ...]:
        return self.parsed.calls


# A behaviour check: (expected value, answer) -> failure reasons. Register more with ``register_check``.
BehaviorCheck = Callable[[Any, Answer], list[Reason]]
BEHAVIOR_CHECKS: dict[str, BehaviorCheck] = {}
ANTI_PATTERN_CHECKS: dict[str, BehaviorCheck] = {}


def register_check(*names: str, anti: bool = False) -> Callable[[BehaviorCheck], BehaviorCheck]:
    def decorate(check: BehaviorCheck) -> BehaviorCheck:
        for name in names:
            (ANTI_PATTERN_CHECKS if anti else BEHAVIOR_CHECKS)[name] = check
        return check

    return decorate


@register_check("does_not_call_tool")
def _does_not_call_tool(value: Any, answer: Answer) -> list[Reason]:
    if value and answer.calls:
        names = ", ".join(call.name for call in answer.calls)
        return [Reason("behavior.does_not_call_tool", f"expected no tool call, got {names}")]
    return []


@register_check("asks_for_user_input", "asks_user_preference", "asks_for_direction", "asks_if_more_needed")
def _asks(value: Any, answer: Answer) -> list[Reason]:
    if value and "?" not in answer.text:
        return [Reason("behavior.asks_for_user_input", "the answer asks the user no question")]
    return []


@register_check("sessionMemory_min_chars", "min_session_memory_length")
def _session_memory(value: Any, answer: Answer) -> list[Reason]:
    minimum = int(value)
    reasons = []
    for call in answer.calls:
        context = call.arguments.get("context")
        memory = context.get("sessionMemory") if isinstance(context, Mapping) else None
        length = len(memory) if isinstance(memory, str) else 0
        if length < minimum:
            message = f"context.sessionMemory has {length} characters, at least {minimum} expected"
            reasons.append(Reason("behavior.session_memory_too_short", message, call.name))
    return reasons


@register_check("delegates_complex_task", "uses_execute_prompt", "delegates_with_tool")
def _delegates(value: Any, answer: Answer) -> list[Reason]:
    tool = value if isinstance(value, str) else DELEGATION_TOOL
    if value and not any(call.name == tool for call in answer.calls):
        return [Reason("behavior.no_delegation", f"expected a call of {tool}")]
    return []


@register_check("uses_appropriate_limit")
def _limit(value: Any, answer: Answer) -> list[Reason]:
    if not value:
        return []
    low, high = APPROPRIATE_LIMIT
    for call in answer.calls:
        limit = call.arguments.get("limit")
        if isinstance(limit, int) and not isinstance(limit, bool) and low <= limit <= high:
            return []
    return [Reason("behavior.limit_not_appropriate", f"expected a call with an integer limit in {low}..{high}")]


@register_check("calls_tool_directly", "then_calls_tool")
def _calls_tool(value: Any, answer: Answer) -> list[Reason]:
    if value and not answer.calls:
        return [Reason("behavior.no_tool_call", "expected a tool call, the answer has none")]
    return []


@register_check("minimal_or_no_explanation")
def _minimal(value: Any, answer: Answer) -> list[Reason]:
    if value and len(answer.text) > MINIMAL_EXPLANATION_CHARS:
        return [Reason("behavior.too_much_explanation", f"{len(answer.text)} characters of text beside the call")]
    return []


@register_check("immediate_tool_call", anti=True)
def _immediate(value: Any, answer: Answer) -> list[Reason]:
    if value and answer.calls:
        return [Reason("anti.immediate_tool_call", f"called {answer.calls[0].name} straight away")]
    return []


_CALL_BLOCKS = re.compile(r"<tool_call>.*?(?:</tool_call>|\Z)|```.*?(?:```|\Z)|<think>.*?(?:</think>|\Z)", re.S)


def answer_text(response: Any, parsed: ParseResult) -> str:
    """The prose of an answer: its content without tool-call blocks, code fences and thinking."""
    content = getattr(response, "content", None) or ""
    prose = harmony_prose(content)  # gpt-oss: final and commentary text, without analysis and calls
    content = content if prose is None else prose
    if parsed.style in ("native", None):
        return _CALL_BLOCKS.sub("", content).strip() if parsed.style is None else content.strip()
    if parsed.style in ("hermes", "fenced_json", "harmony"):
        return _CALL_BLOCKS.sub("", content).strip()
    return ""  # mistral / legacy / whole-JSON answers: the text is the call


def normalise(value: Any) -> Any:
    """Case-, whitespace- and trailing-slash-insensitive form of a value, recursively."""
    if isinstance(value, str):
        text = " ".join(value.split()).casefold()
        return text.rstrip("/") if len(text) > 1 else text
    if isinstance(value, Mapping):
        return {str(key): normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Scorer:
    """Scores answers for one tool set; JSON Schema validators are built once."""

    def __init__(self, catalog: ToolCatalog) -> None:
        self.catalog = catalog
        self._validator = _validator(catalog)

    def score(self, case: PromptCase, response: Any) -> tuple[ParseResult, Score]:
        parsed = parse_response(response)
        return parsed, self.score_parsed(case, parsed, answer_text(response, parsed))

    def score_parsed(self, case: PromptCase, parsed: ParseResult, text: str = "") -> Score:
        reasons: list[Reason] = []
        notes: list[Reason] = []
        calls = list(parsed.calls)
        malformed = parsed.error not in (None, "parse.empty", "parse.no_tool_call")
        if malformed:
            reasons.append(Reason(parsed.error, parsed.detail or PARSE_REASONS.get(parsed.error, "")))
        if case.expected_tools:
            if not calls and not malformed:
                code = parsed.error or "parse.no_tool_call"
                reasons.append(Reason(code, f"expected {', '.join(case.expected_tools)}; {PARSE_REASONS[code]}"))
            elif calls:
                reasons += self._match_names(case, calls)
        elif calls and not case.behavior_expectations.get("does_not_call_tool"):
            names = ", ".join(call.name for call in calls)
            reasons.append(Reason("call.unexpected", f"no call expected, got {names}"))
        for call in calls:
            reasons += self._check_call(case, call)
        reasons += self._check_values(case, calls)
        answer = Answer(case, parsed, text)
        for expectations, checks in (
            (case.behavior_expectations, BEHAVIOR_CHECKS),
            (case.anti_patterns_to_avoid, ANTI_PATTERN_CHECKS),
        ):
            for name, value in expectations.items():
                check = checks.get(name)
                if check is None:
                    notes.append(Reason("behavior.unsupported", f"no check implements {name!r}"))
                else:
                    reasons += check(value, answer)
        reasons += _response_type(case, answer)
        return Score(passed=not reasons, reasons=reasons, notes=notes)

    def _match_names(self, case: PromptCase, calls: list[ToolCall]) -> list[Reason]:
        """Expected names against called names as multisets (order-free)."""
        missing = list((Counter(case.expected_tools) - Counter(call.name for call in calls)).elements())
        extra = list((Counter(call.name for call in calls) - Counter(case.expected_tools)).elements())
        reasons = []
        for name in extra:
            if self.catalog.get(name) is None:
                reasons.append(Reason("call.unknown_tool", f"{name!r} is not a tool of {self.catalog.name}", name))
            elif missing:
                expected = missing.pop(0)
                reasons.append(Reason("call.wrong_tool", f"called {name} instead of {expected}", expected))
            else:
                reasons.append(Reason("call.extra_call", f"{name} was not expected", name))
        reasons += [Reason("call.missing_tool", f"{name} was not called", name) for name in missing]
        return reasons

    def _check_call(self, case: PromptCase, call: ToolCall) -> list[Reason]:
        tool = self.catalog.get(call.name)
        if tool is None:
            return []  # reported by the name matching
        conversation = Conversation(messages=[Message(role="user", content=case.question)])
        if case.system:
            conversation.messages.insert(0, Message(role="system", content=case.system))
        reasons = []
        for finding in self._validator(call, conversation):
            if finding.severity != "error":
                continue
            if case.expected_context is not None and finding.code in ("session-mismatch", "workspace-mismatch"):
                continue  # the case's expected_context is checked below, and is authoritative
            code = "schema." + finding.code.replace("-", "_")
            field = f" [{finding.field}]" if finding.field else ""
            reasons.append(Reason(code, f"{finding.message}{field}", call.name))
        expected = case.expected_context
        if expected is not None and "context" in tool.parameters.get("properties", {}):
            context = call.arguments.get("context")
            if not isinstance(context, Mapping):
                reasons.append(Reason("context.missing", "the call has no context object", call.name))
            else:
                session = context.get("sessionId")
                if expected.session_id and session != expected.session_id:
                    message = f"sessionId {session!r}, expected {expected.session_id!r}"
                    reasons.append(Reason("context.session_mismatch", message, call.name))
                workspace = context.get("workspaceId")
                allowed = expected.allowed_workspaces
                if allowed and workspace not in allowed:
                    message = f"workspaceId {workspace!r} is not one of {', '.join(sorted(allowed))}"
                    reasons.append(Reason("context.workspace_mismatch", message, call.name))
        return reasons

    def _check_values(self, case: PromptCase, calls: list[ToolCall]) -> list[Reason]:
        reasons = []
        for tool, expected_arguments in case.expected_args.items():
            candidates = [call for call in calls if call.name == tool]
            if not candidates:
                continue  # the missing call is reported by the name matching
            best: list[Reason] | None = None
            for call in candidates:  # order-free: the call that matches best
                found = _value_reasons(tool, expected_arguments, call.arguments)
                if best is None or len(found) < len(best):
                    best = found
            reasons += best or []
        return reasons


def _value_reasons(tool: str, expected: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[Reason]:
    reasons = []
    for key, value in expected.items():
        if key not in arguments:
            reasons.append(Reason("value.missing", f"{key!r} is absent (expected {value!r})", tool))
        elif normalise(arguments[key]) != normalise(value):
            reasons.append(Reason("value.mismatch", f"{key} is {arguments[key]!r}, expected {value!r}", tool))
    return reasons


def _response_type(case: PromptCase, answer: Answer) -> list[Reason]:
    kind = case.expected_response_type
    called, wrote = bool(answer.calls), bool(answer.text.strip())
    if kind is None:
        return []
    ok = {
        "text_only": not called and wrote,
        "tool_only": called,
        "tool_text": called and wrote,
    }.get(kind)
    if ok is None:
        return []
    if ok:
        return []
    got = "tool call and text" if called and wrote else "tool call only" if called else "text only"
    return [Reason("response_type.mismatch", f"expected {kind}, got {got}")]


def _validator(catalog: ToolCatalog) -> Callable[[ToolCall, Conversation], list[Any]]:
    """``toolset_schemas.validator`` (strict: undeclared parameters are errors) when installed, else a
    small JSON Schema check with the same codes."""
    try:
        from toolset_schemas.validator import Validator
    except ImportError:
        return _jsonschema_validator(catalog)
    validator = Validator(catalog, strict=True)
    return validator.check_call


def _jsonschema_validator(catalog: ToolCatalog) -> Callable[[ToolCall, Conversation], list[Any]]:
    from jsonschema import Draft202012Validator

    from toolset.data import Finding

    validators = {tool.name: Draft202012Validator(tool.parameters) for tool in catalog.tools}
    codes = {"required": "missing-required", "additionalProperties": "unexpected-parameter", "type": "wrong-type"}
    codes.update({"enum": "bad-enum", "const": "bad-enum", "pattern": "pattern-mismatch"})

    def check(call: ToolCall, conversation: Conversation) -> list[Any]:
        if call.raw_arguments is not None:
            return [Finding(code="arguments-not-json", message="arguments are not valid JSON", field="arguments")]
        validator = validators.get(call.name)
        if validator is None:
            return []
        return [
            Finding(code=codes.get(error.validator, "schema-violation"), message=error.message)
            for error in validator.iter_errors(call.arguments)
        ]

    return check
