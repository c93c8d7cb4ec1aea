"""Training data for ``mlx-lora``: the same ``sft`` formatter rows and chat-template decision as toolset-cuda,
tokenized with a per-token loss mask.

The chat template is the model's own when it renders tool calls and has ``{% generation %}`` markers, else
toolset's training template of the model's family (``model.chat_template`` overrides both). With the markers
the loss falls on every assistant turn — a tool call followed by a tool result and a final answer trains both
assistant turns, not only the last one (mlx-lm's own ``mask_prompt`` keeps only the final message).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from toolset import chat_templates
from toolset.config import MlxStageConfig, RunConfig, ToolCallStyle
from toolset.data import Finding
from toolset.errors import ToolsetError
from toolset.formatters import too_long_finding, tool_offer_record

ROW_KEYS = ("messages", "tools")


@attrs.define
class Example:
    """One tokenized row: ``mask[i]`` is 1 where token ``i`` is trained on."""

    input_ids: list[int]
    mask: list[int]
    where: str = ""

    def __len__(self) -> int:
        return len(self.input_ids)


@attrs.define
class StageData:
    train: list[Example]
    eval: list[Example]
    stats: dict[str, Any]
    findings: list[Finding] = attrs.Factory(list)


def model_type(model_dir: Path) -> str | None:
    try:
        return json.loads((Path(model_dir) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def load_tokenizer(model_dir: Path, trust_remote_code: bool = False) -> Any:
    """The Hugging Face tokenizer of a local model folder (the one mlx-lm wraps)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)


def resolve_template(
    tokenizer: Any,
    *,
    style: ToolCallStyle = "native",
    override: str | None = None,
    model_name: str = "the model",
    model_type: str | None = None,
) -> tuple[str, str]:
    """The chat template to train with, and why (the same rule as toolset-cuda: ``toolset.chat_templates.choose``)."""
    return chat_templates.choose(
        tokenizer, style=style, override=override, model_name=model_name, model_type=model_type
    )


def mlx_chat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A formatter row as mlx-lm's chat format: ``messages`` and ``tools`` only (no ``source``/``line``)."""
    out = {key: row[key] for key in ROW_KEYS if row.get(key) is not None}
    if "messages" not in out:
        raise ToolsetError(f"{row.get('source')}:{row.get('line')}: a chat row needs 'messages'")
    return out


def tokenize(tokenizer: Any, row: dict[str, Any], template: str, *, mask_prompt: bool = True) -> Example:
    """Render a chat row with ``template`` and mark the tokens the loss sees.

    ``mask_prompt``: loss on assistant turns only — from the template's generation markers, or, for a template
    without them, on the final assistant message (the prompt before it must render as a prefix).
    """
    chat = mlx_chat_row(row)
    where = f"{row.get('source')}:{row.get('line')}" if row.get("source") else ""
    messages, tools = chat["messages"], chat.get("tools")
    if not mask_prompt:
        ids = tokenizer.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=True)
        ids = list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        return Example(ids, [1] * len(ids), where)
    if chat_templates.has_generation_markers(template):
        out = tokenizer.apply_chat_template(
            messages,
            tools=tools,
            chat_template=template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids, mask = list(out["input_ids"]), [int(m) for m in out["assistant_masks"]]
    else:
        full = tokenizer.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False)
        prompt = tokenizer.apply_chat_template(
            messages[:-1], tools=tools, chat_template=template, tokenize=False, add_generation_prompt=True
        )
        if messages[-1].get("role") != "assistant" or not full.startswith(prompt):
            raise ToolsetError(
                f"{where or 'a row'}: the chat template has no {{% generation %}} markers and does not render the "
                "prompt as a prefix of the conversation, so the answer cannot be told apart: use a toolset "
                f"template (model.chat_template: {', '.join(chat_templates.FAMILIES)}) or train.mlx.mask_prompt: false"
            )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = list(tokenizer(full, add_special_tokens=False)["input_ids"])
        mask = [0] * min(len(prompt_ids), len(ids)) + [1] * max(0, len(ids) - len(prompt_ids))
    if 1 not in mask:
        raise ToolsetError(
            f"{where or 'a row'}: no assistant tokens after rendering with the chat template; check model.chat_template"
        )
    return Example(ids, mask, where)


def formatter_settings(config: RunConfig) -> Any:
    """The ``sft`` formatter's settings from the run config (tool-call style, tools, tool set)."""
    from toolset import get_formatter

    formatter = get_formatter("sft")
    settings = formatter.default_config()
    if settings is None:
        return None
    values = {
        "tool_call_style": config.dataset.tool_call_style,
        "tools": config.dataset.tools,
        "distractors": config.dataset.tool_distractors,
        "toolset": config.dataset.toolset,
    }
    known = {field.name for field in attrs.fields(type(settings))} if attrs.has(type(settings)) else set()
    return attrs.evolve(settings, **{k: v for k, v in values.items() if k in known})


def stage_rows(config: RunConfig, stage: MlxStageConfig) -> tuple[list[dict[str, Any]], list[Finding], int, int]:
    """Read the stage's files and run them through the registered ``sft`` formatter, de-duplicated.

    Returns (rows, findings, conversations read, duplicates dropped).
    """
    from toolset import get_formatter
    from toolset.formatters import deduplicate
    from toolset.readers import read_conversations

    if not stage.datasets:
        raise ToolsetError(f"stage {stage.name} has no datasets (train.mlx.stages[].datasets or dataset.sft)")
    findings: list[Finding] = []
    conversations = []
    for path in stage.datasets:
        if not Path(path).is_file():
            raise ToolsetError(f"stage {stage.name}: dataset {path} not found")
        conversations += list(read_conversations(path, format=config.dataset.format, findings=findings))
    result = get_formatter("sft").factory(conversations, formatter_settings(config))
    rows = list(getattr(result, "rows", result))
    findings += list(getattr(result, "skipped", []))
    duplicates = 0
    if config.dataset.deduplicate:
        rows, duplicates = deduplicate(rows)
    if not rows:
        raise ToolsetError(f"stage {stage.name}: no usable SFT examples in {', '.join(map(str, stage.datasets))}")
    return rows, findings, len(conversations), duplicates


def split(rows: Sequence[Any], eval_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """A seeded train/eval split (the eval share is empty when ``eval_fraction`` is 0)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held_out = int(len(rows) * eval_fraction)
    if eval_fraction > 0 and held_out == 0 and len(rows) >= 10:
        held_out = 1
    return [rows[i] for i in sorted(order[held_out:])], [rows[i] for i in sorted(order[:held_out])]


def prepare_stage(
    config: RunConfig, stage: MlxStageConfig, tokenizer: Any, template: str, *, mask_prompt: bool = True
) -> StageData:
    """Rows of one stage, tokenized; over-long examples dropped (or an error, per ``dataset.overlength``)."""
    rows, findings, conversations, duplicates = stage_rows(config, stage)
    max_length = config.dataset.max_length or config.model.max_seq_length
    kept: list[Example] = []
    too_long: list[str] = []
    for row in rows:
        example = tokenize(tokenizer, row, template, mask_prompt=mask_prompt)
        if len(example) > max_length:
            too_long.append(f"{example.where} ({len(example)} tokens)")
            continue
        kept.append(example)
    finding = too_long_finding(
        too_long,
        max_length,
        policy=config.dataset.overlength,
        any_kept=bool(kept),
        what=f"example(s) of stage {stage.name}",
    )
    if finding:
        findings.append(finding)
    train, evaluation = split(kept, config.dataset.eval_fraction, config.dataset.seed)
    lengths = sorted(len(example) for example in kept)
    stats = {
        "files": [str(p) for p in stage.datasets],
        "tool_offer": tool_offer_record(config.dataset.tools, config.dataset.tool_distractors, rows),
        "conversations": conversations,
        "rows": len(rows),
        "duplicates": duplicates,
        "too_long": len(too_long),
        "train": len(train),
        "eval": len(evaluation),
        "tokens": {"min": lengths[0], "max": lengths[-1], "total": sum(lengths)},
        "trained_tokens": sum(sum(example.mask) for example in kept),
        "max_length": max_length,
    }
    return StageData(train, evaluation, stats, findings)
