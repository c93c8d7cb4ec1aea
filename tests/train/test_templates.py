"""Training chat templates and the loss mask: every prompt token's label is -100, really (TRL's own dataset)."""

from __future__ import annotations

import pytest

from toolset import chat_templates
from toolset.config import load_config
from toolset.errors import ToolsetError
from toolset.formatters import FormatterConfig, format_kto, format_sft
from toolset.readers import read_conversations, sample_path

transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")


@pytest.fixture(scope="module")
def tokenizer(embedded_hf):
    return transformers.AutoTokenizer.from_pretrained(str(embedded_hf))


TOOLS = [{"type": "function", "function": {"name": "t", "description": "d", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("family", chat_templates.FAMILIES)
@pytest.mark.parametrize("style", ["native", "hermes", "text"])
def test_family_templates_render_calls_mask_assistant_turns_and_preserve_prefixes(tokenizer, family, style):
    template = chat_templates.load(family)
    assert chat_templates.has_generation_markers(template)
    conversations = list(read_conversations(sample_path("claudesidian_kto.jsonl")))
    row = format_kto(conversations[:1], FormatterConfig(tool_call_style=style)).rows[0]
    prompt = tokenizer.apply_chat_template(
        row["prompt"], tools=TOOLS, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(
        row["prompt"] + row["completion"], tools=TOOLS, chat_template=template, tokenize=False
    )
    assert full.startswith(prompt)
    name = conversations[0].tool_calls[0].name
    assert name in full[len(prompt) :]
    assert full.index('"context"') < full.index('"sessionDescription"'), "argument key order is kept"
    out = tokenizer.apply_chat_template(
        row["prompt"] + row["completion"], chat_template=template, return_dict=True, return_assistant_tokens_mask=True
    )
    learned = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])
    assert name in learned
    assert conversations[0].messages[1].content not in learned  # the user turn is not learned
    assert chat_templates.stop_token(family).replace("</s>", tokenizer.eos_token) in learned or family == "mistral"


def test_family_is_recognised_from_the_template_text(tokenizer):
    assert chat_templates.family_of(tokenizer.chat_template) == "chatml"
    assert chat_templates.family_of("<|start_header_id|>") == "llama3"
    assert chat_templates.family_of("[INST]") == "mistral"
    assert chat_templates.family_of("plain", "qwen2") == "chatml"
    with pytest.raises(ValueError, match="unknown chat template"):
        chat_templates.load("vicuna")


def test_prompt_tokens_get_label_minus_100_in_trls_dataset(tokenizer, embedded_hf, tmp_path, tiny_llama):
    """Build the real SFTTrainer and check its tokenized dataset token by token."""
    from toolset_cuda import engine, training

    config = load_config(
        overrides=[
            f"model.name={tiny_llama}",
            "model.source=local",
            "model.dtype=float32",
            f"dataset.sft=[{sample_path('claudesidian_sft.jsonl')}]",
            "dataset.eval_fraction=0",
            "train.sft.max_steps=1",
        ]
    )
    plan = training.plan_run("sft", config)
    assert "toolset's chatml training template" in plan.data.template_note
    model, tok, _notes = engine.load_for_training(config, plan.model_dir, "transformers")
    tok.chat_template = plan.data.chat_template
    trainer = training._build_trainer("sft", plan, model, tok, tmp_path)
    dataset = trainer.train_dataset
    conversations = [c for c in read_conversations(sample_path("claudesidian_sft.jsonl"))]
    rows = format_sft(conversations).rows
    assert len(dataset) == len(rows)
    for example, row in zip(dataset, rows, strict=True):
        labels, ids = example["labels"], example["input_ids"]
        learned = [i for i, label in zip(ids, labels, strict=True) if label != -100]
        masked = [i for i, label in zip(ids, labels, strict=True) if label == -100]
        assert learned and masked
        assert all(label in (-100, token) for token, label in zip(ids, labels, strict=True))
        # every token outside the assistant turns is -100: decode both sides and compare with the messages
        prompt_text = tok.decode(masked)
        learned_text = tok.decode(learned)
        for message in row["messages"]:
            if message["role"] in ("system", "user") and message["content"]:
                assert message["content"] not in learned_text
                assert message["content"].strip()[:40] in prompt_text
        assert "<|im_start|>assistant" not in learned_text
        assert learned_text.endswith("<|im_end|>")
        for call in row["messages"][-1]["tool_calls"]:
            assert call["function"]["name"] in learned_text


def test_a_family_less_template_that_cannot_render_calls_is_refused(tokenizer):
    from toolset_cuda.data import resolve_template

    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    config = load_config(overrides=["model.name=some/model"])
    with pytest.raises(ToolsetError, match="set model.chat_template"):
        resolve_template(tokenizer, config)
    config = load_config(overrides=["model.chat_template=llama3"])
    template, note = resolve_template(tokenizer, config)
    assert "<|start_header_id|>" in template and "set in the config" in note


@pytest.mark.parametrize("family", chat_templates.FAMILIES)
def test_inference_copy_renders_the_same_text_without_markers(tokenizer, family):
    template = chat_templates.load(family)
    plain = chat_templates.without_generation_markers(template)
    assert not chat_templates.has_generation_markers(plain)
    row = format_sft(list(read_conversations(sample_path("claudesidian_sft.jsonl")))[:1]).rows[0]
    render = lambda t: tokenizer.apply_chat_template(row["messages"], tools=TOOLS, chat_template=t, tokenize=False)  # noqa: E731
    assert render(plain) == render(template)


def test_packing_keeps_the_prompt_tokens_out_of_the_loss(tmp_path, tiny_llama):
    from toolset_cuda import engine, training

    config = load_config(
        overrides=[
            f"model.name={tiny_llama}",
            "model.source=local",
            "model.dtype=float32",
            "model.max_seq_length=1024",
            f"dataset.sft=[{sample_path('claudesidian_sft.jsonl')}]",
            "dataset.eval_fraction=0",
            "train.sft.packing=true",
        ]
    )
    plan = training.plan_run("sft", config)
    model, tok, _notes = engine.load_for_training(config, plan.model_dir, "transformers")
    tok.chat_template = plan.data.chat_template
    dataset = training._build_trainer("sft", plan, model, tok, tmp_path).train_dataset
    assert len(dataset) < len(plan.data.train), "rows were packed together"
    users = [c.messages[1].content for c in read_conversations(sample_path("claudesidian_sft.jsonl"))]
    for example in dataset:
        learned = tok.decode(
            [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
        )
        assert "<tool_call>" in learned
        assert not any(user in learned for user in users)
