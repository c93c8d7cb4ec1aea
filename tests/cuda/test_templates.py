"""Training chat templates and the loss mask: every prompt token's label is -100, really (TRL's own dataset)."""

from __future__ import annotations

import pytest

from toolset.config import load_config
from toolset.data.formatters import FormatterConfig, format_kto, format_sft
from toolset.data.readers import read_conversations, sample_path
from toolset.errors import ToolsetError
from toolset.weights import chat_templates

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
    stops = [stop.replace("</s>", tokenizer.eos_token) for stop in chat_templates.stop_tokens(family)]
    assert any(stop in learned for stop in stops) or family == "mistral"


def test_family_is_recognised_from_the_template_text(tokenizer):
    assert chat_templates.family_of(tokenizer.chat_template) == "chatml"
    assert chat_templates.family_of("<|start_header_id|>") == "llama3"
    assert chat_templates.family_of("[INST]") == "mistral"
    assert chat_templates.family_of("plain", "qwen2") == "chatml"
    assert chat_templates.family_of("<start_of_turn>model\n") == "gemma"
    assert chat_templates.family_of(None, "gemma3_text") == chat_templates.family_of(None, "gemma3") == "gemma"
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
    from toolset.data.prepare import template_for as resolve_template

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
            "dataset.tools=none",  # short rows, as before the default offered tool definitions: packing joins them
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


HARMONY_PARAMETERS = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "Words to look for"},
        "limit": {"type": "integer", "default": 5},
        "kind": {"type": "string", "enum": ["note", "folder"], "default": "note"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "context": {
            "type": "object",
            "description": "Session context",
            "properties": {"sessionId": {"type": "string"}, "depth": {"type": ["integer", "null"]}},
            "required": ["sessionId"],
        },
        "exact": {"type": "boolean", "nullable": True, "title": "Exact", "examples": ["yes"]},
        "raw": {"$ref": "#/$defs/raw"},
        "path": {"type": "string", "default": "/"},
    },
    "required": ["query"],
}
HARMONY_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_notes",
            "description": "Search the vault\nby words",
            "parameters": HARMONY_PARAMETERS,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "list_folders",
            "description": "List folders",
            "parameters": {"type": "object", "properties": {}},
        },
    },
    {"type": "function", "function": {"name": "ping", "description": ""}},
]
HARMONY_CALL = {"query": "groceries", "limit": 2}
HARMONY_CONVERSATION = [
    {"role": "system", "content": "You manage a notes vault."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! What shall I look for?"},
    {"role": "user", "content": "Find my groceries notes"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "search_notes", "arguments": HARMONY_CALL}}],
    },
    {"role": "tool", "content": '{"titles": ["Groceries"]}'},
    {"role": "assistant", "content": "One note: Groceries."},
]  # fmt: skip


def render_harmony(messages, **kwargs):
    from transformers.utils.chat_template_utils import render_jinja_template

    out = render_jinja_template([messages], tools=HARMONY_TOOLS, chat_template=chat_templates.load("harmony"), **kwargs)
    return out[0][0]


def test_harmony_template_renders_openai_harmonys_format():
    """The format, as OpenAI's renderer (openai-harmony 0.0.8) writes it, for tools with descriptions, defaults,
    enums, arrays, a nested object (whose description harmony writes after the colon), nullable, titles, examples
    and a $ref (any); a call; a tool result; a final answer (<|end|> in the history, <|return|> at the end)."""
    text = render_harmony(HARMONY_CONVERSATION)
    assert text.startswith(
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: "
        "2024-06\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must be included "
        "for every message.\nCalls to these tools must go to the commentary channel: 'functions'.<|end|>"
        "<|start|>developer<|message|># Instructions\n\nYou manage a notes vault.\n\n# Tools\n\n## functions\n\n"
        "namespace functions {\n\n// Search the vault\n// by words\ntype search_notes = (_: {\n"
        "// Words to look for\nquery: string,\nlimit?: number, // default: 5\n"
        'kind?: "note" | "folder", // default: note\ntags?: string[],\n// Session context\n'
        "context?:     // Session context\n{\n    sessionId: string,\n    depth?: number | null,\n    },\n"
        '// Exact\n//\n// Examples:\n// - "yes"\nexact?: boolean | null,\nraw?: any,\n'
        'path?: string, // default: "/"\n}) => any;\n\n// List folders\ntype list_folders = (_: {\n}) => any;\n\n'
        "type ping = () => any;\n\n} // namespace functions<|end|>"
    )
    assert text.endswith(
        "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello! What shall I look "
        "for?<|end|><|start|>user<|message|>Find my groceries notes<|end|><|start|>assistant<|channel|>commentary "
        'to=functions.search_notes <|constrain|>json<|message|>{"query": "groceries", "limit": 2}<|call|>'
        '<|start|>functions.search_notes to=assistant<|channel|>commentary<|message|>{"titles": ["Groceries"]}'
        "<|end|><|start|>assistant<|channel|>final<|message|>One note: Groceries.<|return|>"
    )
    assert render_harmony(HARMONY_CONVERSATION[:-1], add_generation_prompt=True) == text.removesuffix(
        "<|channel|>final<|message|>One note: Groceries.<|return|>"
    )
    effort = render_harmony(HARMONY_CONVERSATION[1:2], reasoning_effort="low")
    assert "Reasoning: low" in effort and "<|start|>developer" in effort  # tools alone make a developer message


def test_harmony_template_equals_openai_harmonys_rendering():
    """Byte for byte what openai-harmony renders for training, but for where the recipient of a call stands: the
    harmony docs allow it in the role or the channel part of the header; the template puts it after the channel,
    as gpt-oss writes its calls, and openai-harmony after the role."""
    harmony = pytest.importorskip("openai_harmony", reason="openai-harmony is not installed (requirements/dev.txt)")
    import json
    import os
    from pathlib import Path

    base = os.environ.get("TIKTOKEN_ENCODINGS_BASE")
    if not base or not (Path(base) / "o200k_base.tiktoken").is_file():
        pytest.skip(
            "openai-harmony needs OpenAI's o200k_base.tiktoken offline: set TIKTOKEN_ENCODINGS_BASE to its folder"
        )
    encoding = harmony.load_harmony_encoding(harmony.HarmonyEncodingName.HARMONY_GPT_OSS)
    Message, Role = harmony.Message, harmony.Role
    tools = [
        harmony.ToolDescription.new(tool["name"], tool["description"], parameters=tool.get("parameters"))
        for tool in (entry["function"] for entry in HARMONY_TOOLS)
    ]
    developer = harmony.DeveloperContent.new().with_instructions(HARMONY_CONVERSATION[0]["content"])
    conversation = harmony.Conversation.from_messages(
        [
            Message.from_role_and_content(Role.SYSTEM, harmony.SystemContent.new()),
            Message.from_role_and_content(Role.DEVELOPER, developer.with_function_tools(tools)),
            Message.from_role_and_content(Role.USER, "Hi"),
            Message.from_role_and_content(Role.ASSISTANT, "Hello! What shall I look for?").with_channel("final"),
            Message.from_role_and_content(Role.USER, "Find my groceries notes"),
            Message.from_role_and_content(Role.ASSISTANT, json.dumps(HARMONY_CALL))
            .with_channel("commentary")
            .with_recipient("functions.search_notes")
            .with_content_type("<|constrain|>json"),
            Message.from_author_and_content(
                harmony.Author.new(Role.TOOL, "functions.search_notes"), '{"titles": ["Groceries"]}'
            )
            .with_channel("commentary")
            .with_recipient("assistant"),
            Message.from_role_and_content(Role.ASSISTANT, "One note: Groceries.").with_channel("final"),
        ]
    )
    reference = encoding.decode_utf8(encoding.render_conversation_for_training(conversation))
    moved = reference.replace(
        "<|start|>assistant to=functions.search_notes<|channel|>commentary ",
        "<|start|>assistant<|channel|>commentary to=functions.search_notes ",
    )
    assert moved != reference
    assert render_harmony(HARMONY_CONVERSATION) == moved


def test_harmony_family_and_its_assistant_tokens(embedded_hf):
    """Recognised by its text or gpt-oss's model type; the loss covers the calls and answers, not the results
    (with harmony's control tokens as special tokens, as in gpt-oss's tokenizer)."""
    from tests.model_factory import HARMONY_CONTROL

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(embedded_hf))
    tokenizer.add_special_tokens({"additional_special_tokens": HARMONY_CONTROL})
    assert chat_templates.family_of("<|start|>user<|message|>x<|end|><|start|>assistant<|channel|>") == "harmony"
    assert chat_templates.family_of(None, "gpt_oss") == "harmony"
    assert chat_templates.stop_tokens("harmony") == ("<|return|>", "<|call|>")
    assert chat_templates.stop_tokens("chatml") == ("<|im_end|>",)
    out = tokenizer.apply_chat_template(
        HARMONY_CONVERSATION,
        tools=HARMONY_TOOLS,
        chat_template=chat_templates.load("harmony"),
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    learned = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])
    assert learned == (
        "<|channel|>final<|message|>Hello! What shall I look for?<|end|><|channel|>commentary to=functions.search_notes"
        ' <|constrain|>json<|message|>{"query": "groceries", "limit": 2}<|call|><|channel|>final<|message|>One note: '
        "Groceries.<|return|>"
    )


def test_gemma_template_has_no_system_turn_and_returns_results_in_a_user_turn():
    """Gemma 3 has user and model turns only: the system prompt and the tools open the first user turn (or a user
    turn of their own), and tool results come back as a user turn; the model turn ends with <end_of_turn>."""
    from transformers.utils.chat_template_utils import render_jinja_template

    def render(messages, **kwargs):
        out = render_jinja_template([messages], chat_template=chat_templates.load("gemma"), bos_token="<bos>", **kwargs)
        return out[0][0]

    call = {"type": "function", "function": {"name": "t", "arguments": {"q": "x"}}}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "done"},
    ]
    text = render(messages, tools=TOOLS, add_generation_prompt=True)
    assert text.startswith("<bos><start_of_turn>user\nBe brief.\n\n# Tools\n\n") and "system" not in text
    assert text.endswith(
        "\n</tools>\n\nTo call a function, reply with a JSON object of its name and arguments inside <tool_call>"
        '</tool_call> tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
        '\n\nHi<end_of_turn>\n<start_of_turn>model\n<tool_call>\n{"name": "t", "arguments": {"q": "x"}}\n'
        "</tool_call><end_of_turn>\n<start_of_turn>user\n<tool_response>\ndone\n</tool_response><end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    alone = render([messages[0], {"role": "assistant", "content": "Hello"}])
    assert alone == "<bos><start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
