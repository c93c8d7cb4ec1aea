"""The tool offer policy (``dataset.tools``): which tool definitions ride with a prompt in training and in
evaluation, what a run records of it, and how the pipeline evaluates with the same offer."""

from __future__ import annotations

import json

import pytest

from toolset.components import ToolCatalog, ToolSpec
from toolset.config import RunConfig
from toolset.data import Conversation, Message, ToolCall
from toolset.data.formatters import (
    EVAL_OFFER,
    FormatterConfig,
    format_kto,
    format_sft,
    offered_tools,
    tool_offer_record,
)
from toolset.runs.pipeline import eval_offer

SCHEMA = {"type": "object", "properties": {}}
CATALOG = ToolCatalog(name="t", tools=[ToolSpec(f"agent_tool{index}", f"Tool {index}.", SCHEMA) for index in range(12)])


def names(tools):
    return [tool["function"]["name"] for tool in tools or []]


def test_none_used_and_all():
    assert offered_tools(CATALOG, ["agent_tool3"], "none") is None
    assert names(offered_tools(CATALOG, ["agent_tool3"], "used", key="k")) == ["agent_tool3"]
    assert sorted(names(offered_tools(CATALOG, ["agent_tool3", "agent_tool1"], "used", key="k"))) == [
        "agent_tool1",
        "agent_tool3",
    ]
    assert names(offered_tools(CATALOG, [], "all")) == CATALOG.names
    assert offered_tools(CATALOG, ["not_a_tool"], "used") is None  # unknown names are not offered
    with pytest.raises(ValueError, match="unknown tool offer policy"):
        offered_tools(CATALOG, ["agent_tool3"], "some")


def test_distractors_are_drawn_per_key_and_shuffled():
    offers = {
        key: names(offered_tools(CATALOG, ["agent_tool3"], "distractors", distractors=3, key=key))
        for key in "abcdefghij"
    }
    for offer in offers.values():
        assert len(offer) == 4 and len(set(offer)) == 4 and "agent_tool3" in offer
    assert offers["a"] == names(offered_tools(CATALOG, ["agent_tool3"], "distractors", distractors=3, key="a"))
    assert len({tuple(sorted(offer)) for offer in offers.values()}) > 5  # different distractors per key
    assert len({offer.index("agent_tool3") for offer in offers.values()}) > 1  # the position gives nothing away
    everything = names(offered_tools(CATALOG, ["agent_tool3"], "distractors", distractors=50, key="a"))
    assert sorted(everything) == sorted(CATALOG.names)


def conversation(tool="vaultManager_deleteNote", user="Delete Inbox/a.md"):
    call = ToolCall(name=tool, arguments={"path": "Inbox/a.md"})
    return Conversation(
        messages=[
            Message(role="system", content="ids"),
            Message(role="user", content=user),
            Message(role="assistant", tool_calls=[call]),
        ],
        label=True,
        metadata={"source": "d.jsonl", "line": 1},
    )


@pytest.mark.parametrize(("policy", "count"), [("none", 0), ("used", 1), ("distractors", 3), ("all", 47)])
def test_formatters_follow_the_policy_for_sft_and_kto(policy, count):
    config = FormatterConfig(tools=policy, distractors=2, toolset="claudesidian")
    for rows in (format_sft([conversation()], config).rows, format_kto([conversation()], config).rows):
        offered = names(rows[0]["tools"])
        assert len(offered) == count
        if count:
            assert "vaultManager_deleteNote" in offered
    again = format_sft([conversation()], config).rows[0]["tools"]
    assert again == format_sft([conversation()], config).rows[0]["tools"]  # the same row gets the same offer


def test_the_run_records_its_offer_and_the_matching_eval_offer():
    rows = [{"tools": [{"x": 1}]}, {"tools": None}]
    assert tool_offer_record("distractors", 3, rows) == {
        "policy": "distractors",
        "rows_with_tools": 1,
        "eval_offer": "distractors",
        "distractors": 3,
    }
    assert tool_offer_record("used", 3, rows)["eval_offer"] == "expected"
    assert tool_offer_record("conversation", 3, rows)["eval_offer"] == "expected"
    assert tool_offer_record("conversation", 3, [{"tools": None}])["eval_offer"] == "none"
    assert set(EVAL_OFFER) == {"none", "used", "distractors", "all"}


def test_the_pipeline_evaluates_with_the_offer_the_model_was_trained_with(tmp_path):
    config = RunConfig()
    config.dataset.tools = "used"
    assert eval_offer(config, None) == ("expected", 3, "expected")  # from dataset.tools
    model = tmp_path / "final_model"
    model.mkdir()
    offer = {"policy": "distractors", "rows_with_tools": 9, "eval_offer": "distractors", "distractors": 5}
    (model / "toolset.json").write_text(json.dumps({"steps": 3, "tool_offer": offer}))
    assert eval_offer(config, model) == ("distractors", 5, "distractors")  # what the run recorded wins
    config.eval.tools = "all"
    assert eval_offer(config, model) == ("all", 3, "distractors")  # an explicit eval.tools wins, trained recorded
    config.eval.tools, config.dataset.tools = "auto", "conversation"
    assert eval_offer(config, None) == ("all", 3, None)  # nothing tells: the whole tool set, as before
