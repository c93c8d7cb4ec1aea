"""Tool calls read from every supported style; malformed answers give a reason code, never an exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from toolset.components import ChatResponse
from toolset_eval.parsing import REASONS, ParseResult, parse_native, parse_output, parse_response, parse_text

ARGS = {"context": {"sessionId": "s1", "workspaceId": "w"}, "filePath": "a.md", "limit": 3}
ARGS_JSON = json.dumps(ARGS)


def only_call(result: ParseResult):
    assert result.ok, result
    (call,) = result.calls
    return call


@pytest.mark.parametrize(
    ("text", "style"),
    [
        (f'<tool_call>\n{{"name": "read", "arguments": {ARGS_JSON}}}\n</tool_call>', "hermes"),
        (f'Let me look.\n<tool_call>{{"name": "read", "arguments": {ARGS_JSON}}}</tool_call>', "hermes"),
        (f'<tool_call>\n```json\n{{"name": "read", "arguments": {ARGS_JSON}}}\n```\n</tool_call>', "hermes"),
        (f'[TOOL_CALLS] [{{"name": "read", "arguments": {ARGS_JSON}}}]', "mistral"),
        (f'[TOOL_CALLS][{{"name": "read", "arguments": {ARGS_JSON}, "id": "abc123def"}}]</s>', "mistral"),
        (f"[TOOL_CALLS]read[ARGS]{ARGS_JSON}", "mistral"),
        (f"tool_call: read\narguments: {ARGS_JSON}", "text"),
        (f"I will read it.\n\ntool_call: read\narguments: {json.dumps(ARGS, indent=2)}\n", "text"),
        (f'Here you go:\n```json\n{{"name": "read", "arguments": {ARGS_JSON}}}\n```', "fenced_json"),
        (f'```\n{{"name": "read", "parameters": {ARGS_JSON}}}\n```', "fenced_json"),
        (f'{{"name": "read", "arguments": {ARGS_JSON}}}', "json"),
        (f'{{"type": "function", "function": {{"name": "read", "arguments": {json.dumps(ARGS_JSON)}}}}}', "json"),
        (
            f'<think>Maybe tool_call: other</think><tool_call>{{"name": "read", "arguments": {ARGS_JSON}}}</tool_call>',
            "hermes",
        ),
    ],
)
def test_each_style_gives_the_call_with_key_order_kept(text, style):
    result = parse_text(text)
    call = only_call(result)
    assert result.style == style
    assert call.name == "read"
    assert call.arguments == ARGS
    assert list(call.arguments) == ["context", "filePath", "limit"]
    assert list(call.arguments["context"]) == ["sessionId", "workspaceId"]


def test_a_note_with_a_code_block_in_a_fenced_or_hermes_call():
    content = "# Setup\n```python\nprint('hi')\n```\nDone. Not a </tool_call> either."
    arguments = {"path": "Notes/setup.md", "content": content}
    call = json.dumps({"name": "contentManager_createContent", "arguments": arguments})
    for text, style in ((f"```json\n{call}\n```", "fenced_json"), (f"<tool_call>\n{call}\n</tool_call>", "hermes")):
        result = parse_text(f"Writing the note.\n{text}\nAnything else?")
        assert result.style == style
        assert only_call(result).arguments == arguments


def test_several_calls_in_order():
    text = (
        '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {"y": 2}}</tool_call>'
    )
    assert [(c.name, c.arguments) for c in parse_text(text).calls] == [("a", {"x": 1}), ("b", {"y": 2})]
    mistral = '[TOOL_CALLS] [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"y": 2}}]'
    assert [c.name for c in parse_text(mistral).calls] == ["a", "b"]
    legacy = 'tool_call: a\narguments: {"x": 1}\ntool_call: b\narguments: {}'
    assert [(c.name, c.arguments) for c in parse_text(legacy).calls] == [("a", {"x": 1}), ("b", {})]


def test_mistral_call_id():
    call = only_call(parse_text('[TOOL_CALLS]read[CALL_ID]a1b2c3d4e[ARGS]{"x": 1}'))
    assert (call.name, call.id, call.arguments) == ("read", "a1b2c3d4e", {"x": 1})


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "parse.empty"),
        ("   \n", "parse.empty"),
        (None, "parse.empty"),
        ("<think>just thinking</think>", "parse.empty"),
        ("thinking begun in the prompt, tool_call: a\narguments: {}</think>\nNo tool needed.", "parse.no_tool_call"),
        ("The weather in Paris is sunny.", "parse.no_tool_call"),
        ("```python\nprint('hi')\n```", "parse.no_tool_call"),
        ('<tool_call>{"name": "read", "arguments": {"x": 1,}}</tool_call>', "parse.invalid_json"),
        ('<tool_call>{"name": "read"} trailing</tool_call>', "parse.invalid_json"),
        ("<tool_call></tool_call>", "parse.invalid_json"),
        ('<tool_call>{"name": "read", "arguments": {"x": ', "parse.unclosed_tag"),
        ('<tool_call>{"arguments": {"x": 1}}</tool_call>', "parse.missing_name"),
        ('<tool_call>{"name": "", "arguments": {}}</tool_call>', "parse.missing_name"),
        ('<tool_call>["read"]</tool_call>', "parse.missing_name"),
        ('<tool_call>{"name": "read", "arguments": [1, 2]}</tool_call>', "parse.invalid_arguments"),
        ('<tool_call>{"name": "read", "arguments": "not json"}</tool_call>', "parse.invalid_json"),
        ("[TOOL_CALLS] [{'name': 'read'}]", "parse.invalid_json"),
        ("[TOOL_CALLS]read{}", "parse.missing_arguments"),
        ("[TOOL_CALLS]", "parse.missing_name"),
        ("tool_call: read\nI forgot the arguments", "parse.missing_arguments"),
        ("tool_call: read\narguments: {oops}", "parse.invalid_json"),
        ('```json\n{"name": "read", "arguments": {\n```', "parse.invalid_json"),
        ('{"answer": 42}', "parse.missing_name"),
        ("{not json at all", "parse.invalid_json"),
        ("[" * 50_000, "parse.invalid_json"),
    ],
)
def test_malformed_answers_give_a_reason_code(text, code):
    result = parse_text(text)
    assert result.error == code, result
    assert not result.ok
    assert result.detail


def test_good_calls_are_kept_beside_a_malformed_one():
    text = '<tool_call>{bad}</tool_call>\n<tool_call>{"name": "ok", "arguments": {}}</tool_call>'
    result = parse_text(text)
    assert result.error == "parse.invalid_json"
    assert [c.name for c in result.calls] == ["ok"]


def test_unclosed_tag_with_complete_json_is_accepted():
    call = only_call(parse_text('<tool_call>{"name": "read", "arguments": {"x": 1}}'))
    assert call.arguments == {"x": 1}


def test_native_calls_openai_and_flat_shapes():
    openai_shaped = [
        {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": ARGS_JSON}},
        {"name": "list", "arguments": {"b": 1, "a": 2}},
        {"function": {"name": "noargs", "arguments": ""}},
    ]
    result = parse_native(openai_shaped)
    assert result.ok and result.style == "native"
    assert [(c.name, c.id) for c in result.calls] == [("read", "call_1"), ("list", None), ("noargs", None)]
    assert list(result.calls[0].arguments) == ["context", "filePath", "limit"]
    assert list(result.calls[1].arguments) == ["b", "a"]
    assert result.calls[2].arguments == {}


def test_native_call_with_undecodable_arguments_keeps_the_raw_text():
    result = parse_native([{"function": {"name": "read", "arguments": '{"x": '}}, "junk"])
    assert result.error == "parse.invalid_json"
    (call,) = result.calls
    assert (call.name, call.raw_arguments, call.arguments) == ("read", '{"x": ', {})


def test_native_calls_take_precedence_over_text():
    response = ChatResponse(content="tool_call: other\narguments: {}", tool_calls=[{"name": "read", "arguments": {}}])
    assert [c.name for c in parse_response(response).calls] == ["read"]
    assert parse_output("tool_call: other\narguments: {}", []).calls[0].name == "other"


def test_every_reason_code_is_documented():
    codes = set()
    for text in ["", "plain", "<tool_call>{", "<tool_call>{}</tool_call>", "[TOOL_CALLS]x", "tool_call: a\nb", "{[}"]:
        codes.add(parse_text(text).error)
    codes.add(parse_text('{"name": "a", "arguments": 1}').error)
    assert codes <= set(REASONS)


JSONISH = st.text(alphabet=st.sampled_from(list('{}[]":,\\ \nabc01-.truefalsnl<>/')), max_size=80)
MARKERS = st.sampled_from(
    ["<tool_call>", "</tool_call>", "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]", "tool_call: x\n", "arguments: ", "```json\n",
     "```", "<think>", "</think>", '{"name": "t", "arguments": ', "{", "["]
)  # fmt: skip


CALL_KEYS = st.sampled_from(["name", "arguments", "function", "id"])
CALL_VALUES = st.one_of(st.none(), st.text(), st.integers(), st.dictionaries(st.text(), st.integers()))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    result = parse_text(text)
    assert isinstance(result, ParseResult)
    assert result.error is None or result.error in REASONS


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(MARKERS, JSONISH), max_size=12).map("".join))
def test_marker_soup_never_raises(text):
    result = parse_text(text)
    assert result.error is None or result.error in REASONS
    assert result.ok == (result.error is None and bool(result.calls))
    for call in result.calls:
        assert isinstance(call.name, str) and call.name
        assert isinstance(call.arguments, dict)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(), st.text(), st.dictionaries(CALL_KEYS, CALL_VALUES))))
def test_arbitrary_native_calls_never_raise(calls):
    result = parse_native(calls)
    assert result.error is None or result.error in REASONS


@settings(max_examples=200, deadline=None)
@example(name="A", arguments={"0": ["```"]}, style="fenced_json")  # the closing fence inside a string
@example(name="A", arguments={"note": "</tool_call> and ```"}, style="hermes")
@given(
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True),
    arguments=st.dictionaries(
        st.text(min_size=1, max_size=10),
        JSON_VALUES,
        max_size=5,
    ),
    style=st.sampled_from(["hermes", "mistral", "text", "fenced_json", "json"]),
)
def test_round_trip_of_generated_calls(name, arguments, style):
    encoded = json.dumps(arguments)
    text = {
        "hermes": f'<tool_call>\n{{"name": {json.dumps(name)}, "arguments": {encoded}}}\n</tool_call>',
        "mistral": f'[TOOL_CALLS] [{{"name": {json.dumps(name)}, "arguments": {encoded}}}]',
        "text": f"tool_call: {name}\narguments: {encoded}",
        "fenced_json": f'```json\n{{"name": {json.dumps(name)}, "arguments": {encoded}}}\n```',
        "json": f'{{"name": {json.dumps(name)}, "arguments": {encoded}}}',
    }[style]
    result = parse_text(text)
    call = only_call(result)
    assert result.style == style
    assert call.name == name
    assert call.arguments == arguments
    assert list(call.arguments) == list(arguments)


HARMONY_CALL = f"<|channel|>commentary to=functions.read <|constrain|>json<|message|>{ARGS_JSON}<|call|>"


@pytest.mark.parametrize(
    "text",
    [
        HARMONY_CALL,
        HARMONY_CALL.removesuffix("<|call|>"),  # the stop token is not part of the answer
        f"<|channel|>analysis<|message|>The user wants a file: tool_call: other<|end|><|start|>assistant{HARMONY_CALL}",
        f" to=functions.read<|channel|>commentary json<|message|>{ARGS_JSON}",  # the recipient after the role
        f"<|start|>assistant<|channel|>commentary to=functions.read<|message|>{json.dumps(ARGS, indent=2)}<|call|>",
        f"analysisThe user wants a file.assistantcommentary to=functions.read json{ARGS_JSON}",  # control tokens lost
        f"assistant to=functions.read commentary json{ARGS_JSON}",
    ],
)
def test_harmony_calls_with_key_order_kept(text):
    result = parse_text(text)
    call = only_call(result)
    assert result.style == "harmony"
    assert (call.name, call.arguments) == ("read", ARGS)
    assert list(call.arguments) == ["context", "filePath", "limit"]


def test_harmony_final_text_is_prose_and_analysis_is_thinking():
    from toolset_eval.parsing import harmony_prose
    from toolset_eval.scoring import answer_text

    final = (
        "<|channel|>analysis<|message|>Think: tool_call: x<|end|><|start|>assistant<|channel|>final<|message|>Sunny."
    )
    result = parse_text(final + "<|return|>")
    assert result.error == "parse.no_tool_call" and not result.calls
    assert harmony_prose(final) == "Sunny."
    assert answer_text(ChatResponse(content=final), result) == "Sunny."
    assert parse_text("<|channel|>analysis<|message|>Just thinking<|end|>").error == "parse.empty"
    preamble = f"<|channel|>commentary<|message|>Opening it.<|end|><|start|>assistant{HARMONY_CALL}"
    parsed = parse_text(preamble)
    assert [c.name for c in parsed.calls] == ["read"]
    assert answer_text(ChatResponse(content=preamble), parsed) == "Opening it."
    hermes_in_final = f'<|channel|>final<|message|><tool_call>{{"name": "read", "arguments": {ARGS_JSON}}}</tool_call>'
    assert parse_text(hermes_in_final).style == "hermes"  # a model trained with calls written in its text


def test_harmony_several_calls_and_malformed_ones():
    two = '<|channel|>commentary to=functions.a <|constrain|>json<|message|>{"x": 1}<|call|>'
    two += "<|start|>assistant<|channel|>commentary to=functions.b <|constrain|>json<|message|>{}<|call|>"
    assert [(c.name, c.arguments) for c in parse_text(two).calls] == [("a", {"x": 1}), ("b", {})]
    cut = parse_text("<|channel|>commentary to=functions.read <|constrain|>json")
    assert (cut.error, cut.calls) == ("parse.invalid_json", ())
    bad = parse_text('<|channel|>commentary to=functions.read <|constrain|>json<|message|>{"x": ')
    assert bad.error == "parse.invalid_json" and bad.calls[0].raw_arguments == '{"x": '
    assert (
        parse_text("<|channel|>commentary to=functions. <|constrain|>json<|message|>{}").error == "parse.missing_name"
    )
    assert parse_text("I would send it to=functions.read, then {maybe} more").error == "parse.no_tool_call"
    tool_result = "<|start|>functions.read to=assistant<|channel|>commentary<|message|>{}<|end|>"
    assert parse_text(tool_result).error == "parse.empty"  # a tool's message is not the model's call


@pytest.mark.parametrize("style", ["native", "hermes"])
def test_what_the_harmony_training_template_teaches_parses_back(style):
    """The assistant turn as toolset's harmony template renders it (after <|start|>assistant) gives the calls."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from toolset.data import Message, ToolCall
    from toolset.data.formatters import messages_for
    from toolset.weights.chat_templates import load

    def render(messages, generation_prompt=False):
        out = render_jinja_template([messages], chat_template=load("harmony"), add_generation_prompt=generation_prompt)
        return out[0][0] if isinstance(out, tuple) else out[0]

    calls = [ToolCall(name="read", arguments=ARGS), ToolCall(name="list", arguments={"b": 1, "a": 2})]
    conversation = [Message(role="user", content="Read it"), Message(role="assistant", content="", tool_calls=calls)]
    messages = messages_for(conversation, style)
    prompt = render(messages[:1], generation_prompt=True)
    answer = render(messages)[len(prompt) :]
    result = parse_text(answer)
    assert result.ok and result.style == {"native": "harmony", "hermes": "hermes"}[style]
    assert [(c.name, c.arguments) for c in result.calls] == [("read", ARGS), ("list", {"b": 1, "a": 2})]
    assert list(result.calls[1].arguments) == ["b", "a"]


HARMONY_MARKERS = st.sampled_from(
    ["<|start|>", "assistant", "<|channel|>", "analysis", "final", "commentary", " to=functions.t", " to=",
     "<|message|>", "<|constrain|>json", "<|end|>", "<|call|>", "<|return|>", '{"x": 1}', "{", "<tool_call>"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(HARMONY_MARKERS, JSONISH), max_size=12).map("".join))
@example(" to=<|message|>assistant")  # once read as a call with an empty name
@example("<|start|>assistant to=functions.<|message|>{}")
def test_harmony_soup_never_raises(text):
    result = parse_text(text)
    assert result.error is None or result.error in REASONS
    for call in result.calls:
        assert isinstance(call.name, str) and call.name and isinstance(call.arguments, dict)


@pytest.mark.parametrize("text", [" to=<|message|>assistant", "<|start|>assistant to=functions.<|message|>{}"])
def test_a_harmony_message_addressed_to_no_tool_is_a_missing_name(text):
    result = parse_text(text)
    assert not result.calls and result.error == "parse.missing_name"
