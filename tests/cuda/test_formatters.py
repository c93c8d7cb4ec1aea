"""The sft / kto formatters, de-duplication, the seeded split and the label-balanced batch plan (no torch)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from toolset import get_formatter
from toolset.data import Conversation, Message, ToolCall
from toolset.data.formatters import (
    FormatterConfig,
    balanced_batches,
    deduplicate,
    format_kto,
    format_sft,
    kto_weights,
    split_rows,
)
from toolset.data.readers import read_conversations, sample_path


def conversation(label=None, text="", calls=1, user="Find my notes") -> Conversation:
    call = ToolCall(name="vaultLibrarian_searchContent", arguments={"context": {"sessionId": "s"}, "query": "notes"})
    return Conversation(
        messages=[
            Message(role="system", content="<session_context>ids</session_context>"),
            Message(role="user", content=user),
            Message(role="assistant", content=text or None, tool_calls=[call] * calls, tool_call_id=None),
        ],
        label=label,
        metadata={"source": "data.jsonl", "line": 3},
    )


def test_sft_native_rows_keep_structured_calls_and_key_order():
    rows = format_sft([conversation()]).rows
    assert len(rows) == 1
    assistant = rows[0]["messages"][-1]
    call = assistant["tool_calls"][0]["function"]
    assert call["name"] == "vaultLibrarian_searchContent"
    assert list(call["arguments"]) == ["context", "query"]
    assert rows[0]["source"] == "data.jsonl" and rows[0]["line"] == 3


def test_hermes_and_text_styles_write_calls_into_content():
    hermes = format_sft([conversation()], FormatterConfig(tool_call_style="hermes")).rows[0]["messages"][-1]
    assert "tool_calls" not in hermes
    body = hermes["content"].removeprefix("<tool_call>\n").removesuffix("\n</tool_call>")
    assert json.loads(body) == {
        "name": "vaultLibrarian_searchContent",
        "arguments": {"context": {"sessionId": "s"}, "query": "notes"},
    }
    text = format_sft([conversation()], FormatterConfig(tool_call_style="text")).rows[0]["messages"][-1]
    assert text["content"].startswith("tool_call: vaultLibrarian_searchContent\narguments: {")


def test_kto_prompt_holds_the_system_prompt_and_completion_keeps_text_and_calls():
    row = format_kto([conversation(label=False, text="Let me look.")]).rows[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["completion"][0]["content"] == "Let me look."
    assert row["completion"][0]["tool_calls"], "the calls must not be dropped when the turn also has text"
    assert row["label"] is False


def test_sft_leaves_out_undesirable_and_callless_examples_with_a_reason():
    empty = Conversation(messages=[Message(role="user", content="hi")], metadata={"source": "x.jsonl", "line": 9})
    result = format_sft([conversation(label=False), empty, conversation()])
    assert len(result.rows) == 1
    assert {f.code for f in result.skipped} == {"format.undesirable", "format.no_assistant"}
    assert any(f.source == "x.jsonl" and f.line == 9 for f in result.skipped)


def test_kto_skips_unlabelled_examples():
    result = format_kto([conversation(label=None), conversation(label=True)])
    assert len(result.rows) == 1 and result.skipped[0].code == "format.no_label"


def test_registered_formatters_produce_rows_from_the_bundled_samples():
    conversations = list(read_conversations(sample_path("claudesidian_kto.jsonl")))
    rows = get_formatter("kto").factory(conversations, FormatterConfig())
    assert len(rows) == len(conversations)
    assert {row["label"] for row in rows} == {True, False}
    sft = get_formatter("sft").factory(list(read_conversations(sample_path("claudesidian_sft.jsonl"))), None)
    assert all(row["messages"][-1]["role"] == "assistant" for row in sft)


def test_used_tools_mode_attaches_the_schemas_of_called_tools():
    row = format_sft([conversation()], FormatterConfig(tools="used", toolset="claudesidian")).rows[0]
    assert [tool["function"]["name"] for tool in row["tools"]] == ["vaultLibrarian_searchContent"]


def test_deduplicate_ignores_call_ids_and_source_lines():
    first, second = format_sft([conversation(), conversation()]).rows
    second["messages"][-1]["tool_calls"][0]["id"] = "other"
    second["line"] = 99
    kept, dropped = deduplicate([first, second, format_sft([conversation(user="Other")]).rows[0]])
    assert (len(kept), dropped) == (2, 1)


def test_split_is_seeded_and_keeps_both_labels_on_both_sides():
    rows = [{"label": i % 2 == 0, "n": i} for i in range(40)]
    train, evaluation = split_rows(rows, 0.25, seed=7)
    assert split_rows(rows, 0.25, seed=7) == (train, evaluation)
    assert len(evaluation) == 10 and len(train) == 30
    assert {r["label"] for r in evaluation} == {True, False}
    assert split_rows(rows, 0.25, seed=8)[1] != evaluation


@given(
    positives=st.integers(1, 60),
    negatives=st.integers(1, 60),
    batch=st.integers(2, 8),
    seed=st.integers(0, 10),
)
def test_every_planned_batch_holds_both_labels(positives, negatives, batch, seed):
    labels = [True] * positives + [False] * negatives
    plan = balanced_batches(labels, batch, seed)
    assert plan and all(len(chunk) == batch for chunk in plan)
    for chunk in plan:
        assert {labels[i] for i in chunk} == {True, False}
    used = {i for chunk in plan for i in chunk}
    if min(positives, negatives) >= len(plan):
        assert len(used) == min(len(labels), len(plan) * batch)  # no repeats when the minority suffices


def test_kto_weights_follow_the_label_ratio():
    assert kto_weights([True] * 30 + [False] * 10) == (1.0, 3.0)
    assert kto_weights([True] * 10 + [False] * 20) == (2.0, 1.0)
    assert kto_weights([True, False]) == (1.0, 1.0)
