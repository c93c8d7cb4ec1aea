"""Training-data preparation (toolset.data.prepare), shared by toolset-cuda and toolset-mlx: the sft formatter's rows,
the chat-template decision, the per-token loss mask and the length policy."""

from __future__ import annotations

import attrs
import pytest

from toolset.errors import ToolsetError
from toolset.weights import chat_templates

CONVERSATION = {
    "messages": [
        {"role": "system", "content": "You operate a vault."},
        {"role": "user", "content": "Make a note called plan."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "create_note", "arguments": {"title": "plan"}}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "created"},
        {"role": "assistant", "content": "Done: plan is in the vault."},
    ],
    "tools": [{"type": "function", "function": {"name": "create_note", "parameters": {"type": "object"}}}],
    "source": "data.jsonl",
    "line": 3,
}


@pytest.fixture(scope="module")
def tokenizer(embedded_hf):
    from toolset.data.prepare import load_tokenizer

    return load_tokenizer(embedded_hf)


def trained_text(tokenizer, example) -> str:
    return tokenizer.decode([token for token, keep in zip(example.input_ids, example.mask, strict=True) if keep])


def test_one_template_decision_for_every_trainer(tokenizer):
    from toolset.config import load_config
    from toolset.data.prepare import template_for

    template, note = template_for(tokenizer, load_config(), model_type="llama")
    assert template == chat_templates.load("chatml")
    assert "toolset's chatml training template" in note and "cannot render tool calls" in note
    own_with_markers = chat_templates.load("chatml")
    tokenizer_copy = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    tokenizer_copy.chat_template = own_with_markers
    assert template_for(tokenizer_copy, load_config())[1].startswith("chat template: the model's own")
    llama3 = load_config(overrides=["model.chat_template=llama3"])
    assert template_for(tokenizer, llama3)[1] == "chat template: llama3 (set in the config)"
    with pytest.raises(ToolsetError, match="model.chat_template"):
        template_for(tokenizer, load_config(overrides=["model.chat_template=nope"]))


def test_loss_on_every_assistant_turn_only(tokenizer):
    from toolset.data.prepare import Example
    from toolset.data.prepare import encode as tokenize

    assert set(attrs.fields_dict(Example)) == {"input_ids", "mask", "where"}  # source/line never reach a trainer
    example = tokenize(tokenizer, CONVERSATION, chat_templates.load("chatml"))
    assert example.where == "data.jsonl:3" and len(example.mask) == len(example.input_ids)
    text = trained_text(tokenizer, example)
    assert "create_note" in text and '"title": "plan"' in text  # the tool call (first assistant turn)
    assert "Done: plan is in the vault." in text  # and the final answer
    for prompt in ("You operate a vault.", "Make a note called plan.", "created"):
        assert prompt not in text
    everything = tokenize(tokenizer, CONVERSATION, chat_templates.load("chatml"), mask_prompt=False)
    assert everything.input_ids == example.input_ids and all(everything.mask)


def test_template_without_markers_masks_the_prompt_before_the_last_turn(tokenizer):
    from toolset.data.prepare import encode as tokenize

    plain = chat_templates.without_generation_markers(chat_templates.load("chatml"))
    example = tokenize(tokenizer, CONVERSATION, plain)
    text = trained_text(tokenizer, example)
    assert "Done: plan is in the vault." in text and "create_note" not in text
    assert "Make a note" not in text


def test_rows_go_through_the_registered_sft_formatter(tmp_path, tokenizer):
    from toolset.config import load_config
    from toolset.data.prepare import check_files, format_rows, prepare, read
    from toolset.data.readers import sample_path

    config = load_config(overrides=["dataset.tool_call_style=hermes"])
    conversations, _findings = read(check_files([sample_path("claudesidian_sft.jsonl")], "stage s"))
    rows, _skipped = format_rows("sft", conversations, config)
    data = prepare("sft", config, tokenizer, files=[sample_path("claudesidian_sft.jsonl")], name="stage s")
    assert data.stats["conversations"] == 19 and data.stats["rows"] + data.stats["duplicates"] <= 19
    assert all("<tool_call>" in row["messages"][-1]["content"] for row in rows if row["messages"][-1].get("content"))
    assert all(row["source"].endswith("claudesidian_sft.jsonl") for row in rows)
    with pytest.raises(ToolsetError, match="not found"):
        prepare("sft", config, tokenizer, files=[tmp_path / "missing.jsonl"], name="stage s")


def test_over_length_examples_are_left_out_or_an_error(tokenizer):

    from toolset.config import MlxStageConfig, load_config
    from toolset.data.prepare import prepare
    from toolset.data.readers import sample_path

    stage = MlxStageConfig(name="s", datasets=[str(sample_path("claudesidian_sft.jsonl"))])
    prepare_stage = lambda config, stage, tokenizer, template: prepare(  # noqa: E731
        "sft", config, tokenizer, files=stage.datasets, name=f"stage {stage.name}", template=template
    )
    template = chat_templates.load("chatml")
    full = prepare_stage(load_config(overrides=["dataset.eval_fraction=0"]), stage, tokenizer, template)
    lengths = sorted(len(example) for example in full.train)
    limit = lengths[len(lengths) // 2]
    config = load_config(overrides=["dataset.eval_fraction=0", f"dataset.max_length={limit}"])
    data = prepare_stage(config, stage, tokenizer, template)
    assert len(data.train) == sum(length <= limit for length in lengths)
    [finding] = [f for f in data.findings if f.code == "format.too_long"]
    assert f"example(s) of stage s longer than max length {limit} tokens" in finding.message
    assert "claudesidian_sft.jsonl:" in finding.message and finding.severity == "warning"
    strict = load_config(
        overrides=["dataset.eval_fraction=0", f"dataset.max_length={limit}", "dataset.overlength=error"]
    )
    with pytest.raises(ToolsetError, match="Raise model.max_seq_length"):
        prepare_stage(strict, stage, tokenizer, template)
