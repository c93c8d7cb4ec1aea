"""Training data for SFT and KTO: read, format, de-duplicate, split, render with the chat template, tokenize,
measure and filter — everything that needs the tokenizer but no model weights (so ``--dry-run`` runs it).

SFT rows are tokenized here (``input_ids`` + ``assistant_masks``) so TRL builds labels from our mask: every
token outside an assistant turn gets label -100. KTO rows are rendered to prompt / completion text with the
same template, and reordered so that every per-device batch holds both labels (TRL's KTO reads batches in
order, since its KL estimate pairs each example with its batch neighbours).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from toolset import chat_templates
from toolset.config import RunConfig
from toolset.data import Conversation, Finding
from toolset.errors import ToolsetError
from toolset.formatters import (
    FormatterConfig,
    balanced_batches,
    deduplicate,
    format_rows,
    label_counts,
    split_rows,
    too_long_finding,
    tool_offer_record,
)
from toolset.readers import read_conversations


@attrs.define
class PreparedData:
    """What a trainer consumes, plus what ``--dry-run`` prints."""

    method: str
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    chat_template: str
    template_note: str
    stats: dict[str, Any]
    example: str
    findings: list[Finding] = attrs.Factory(list)


def dataset_files(config: RunConfig, method: str) -> list[Path]:
    files = [Path(p) for p in getattr(config.dataset, method)]
    if not files:
        raise ToolsetError(f"no {method.upper()} data: set dataset.{method} to one or more JSONL files")
    for path in files:
        if not path.is_file():
            raise ToolsetError(f"dataset.{method}: {path}: file not found")
    return files


def read_files(files: Sequence[Path], fmt: str) -> tuple[list[Conversation], list[Finding]]:
    findings: list[Finding] = []
    conversations: list[Conversation] = []
    for path in files:
        conversations.extend(read_conversations(path, format=fmt, findings=findings))
    return conversations, findings


def resolve_template(tokenizer: Any, config: RunConfig, model_type: str | None = None) -> tuple[str, str]:
    """The chat template to train with, and a sentence for the run log saying which and why."""
    return chat_templates.choose(
        tokenizer,
        style=config.dataset.tool_call_style,
        override=config.model.chat_template,
        model_name=config.model.name,
        model_type=model_type,
    )


def _length_stats(lengths: Sequence[int]) -> dict[str, int]:
    if not lengths:
        return {}
    ordered = sorted(lengths)
    return {
        "min": ordered[0],
        "median": int(statistics.median(ordered)),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
        "total": sum(ordered),
    }


def _strip_bos(tokenizer: Any, text: str) -> str:
    """Drop a leading BOS the template wrote when the tokenizer adds its own (no doubled BOS)."""
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos):
        ids = tokenizer("x")["input_ids"]
        if ids and ids[0] == tokenizer.bos_token_id:
            return text[len(bos) :]
    return text


def tokenize_sft(tokenizer: Any, row: dict[str, Any], template: str) -> dict[str, Any]:
    out = tokenizer.apply_chat_template(
        row["messages"],
        tools=row.get("tools"),
        chat_template=template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    return {"input_ids": list(out["input_ids"]), "assistant_masks": list(out["assistant_masks"])}


def render_kto(tokenizer: Any, row: dict[str, Any], template: str) -> dict[str, Any]:
    tools = row.get("tools")
    prompt = tokenizer.apply_chat_template(
        row["prompt"], tools=tools, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(
        row["prompt"] + row["completion"], tools=tools, chat_template=template, tokenize=False
    )
    if not full.startswith(prompt):
        raise ToolsetError(
            f"{row.get('source')}:{row.get('line')}: the chat template renders the prompt differently on its own "
            "and before the answer, so KTO cannot tell the answer apart: use a prefix-preserving template "
            f"(model.chat_template: {', '.join(chat_templates.FAMILIES)})"
        )
    completion = full[len(prompt) :]
    eos = getattr(tokenizer, "eos_token", None)
    if eos and eos in completion:  # TRL appends EOS to text completions that do not end with it
        completion = completion[: completion.rindex(eos) + len(eos)]
    return {"prompt": _strip_bos(tokenizer, prompt), "completion": completion, "label": row["label"]}


def _formatter_config(config: RunConfig) -> FormatterConfig:
    return FormatterConfig(
        tool_call_style=config.dataset.tool_call_style,
        tools=config.dataset.tools,
        distractors=config.dataset.tool_distractors,
        toolset=config.dataset.toolset,
    )


def prepare_data(method: str, config: RunConfig, tokenizer: Any, *, model_type: str | None = None) -> PreparedData:
    """Read, format, de-duplicate, split, render and tokenize ``method``'s data; raise on unusable input."""
    if method not in ("sft", "kto"):
        raise ToolsetError(f"unknown training method {method!r}")
    files = dataset_files(config, method)
    conversations, findings = read_files(files, config.dataset.format)
    formatted = format_rows(method, conversations, _formatter_config(config))
    findings += formatted.skipped
    rows = formatted.rows
    duplicates = 0
    if config.dataset.deduplicate:
        rows, duplicates = deduplicate(rows)
    if not rows:
        raise ToolsetError(f"no usable {method.upper()} examples in {', '.join(map(str, files))}")
    settings = getattr(config.train, method)
    if method == "kto":
        _check_kto(rows, settings.per_device_batch_size, files)
    template, note = resolve_template(tokenizer, config, model_type)
    max_length = config.dataset.max_length or config.model.max_seq_length
    processed: list[dict[str, Any]] = []
    lengths: list[int] = []
    too_long: list[str] = []
    for row in rows:
        if method == "sft":
            item = tokenize_sft(tokenizer, row, template)
            length = len(item["input_ids"])
            if 1 not in item["assistant_masks"]:
                raise ToolsetError(
                    f"{row.get('source')}:{row.get('line')}: no assistant tokens after rendering with the chat "
                    "template; check model.chat_template"
                )
        else:
            item = render_kto(tokenizer, row, template)
            length = len(tokenizer(item["prompt"] + item["completion"])["input_ids"])
        lengths.append(length)
        if length > max_length:
            too_long.append(f"{row.get('source')}:{row.get('line')} ({length} tokens)")
            continue
        item["_where"] = f"{row.get('source')}:{row.get('line')}"
        processed.append(item)
    finding = too_long_finding(
        too_long,
        max_length,
        policy=config.dataset.overlength,
        any_kept=bool(processed),
        what=f"{method.upper()} example(s)",
    )
    if finding:
        findings.append(finding)
    train, evaluation = split_rows(processed, config.dataset.eval_fraction, config.dataset.seed)
    if method == "kto":
        _check_kto(train, settings.per_device_batch_size, files)
        train = order_balanced(train, settings.per_device_batch_size, config.train.seed)
        if len(evaluation) >= settings.per_device_batch_size and min(label_counts(evaluation).values()):
            evaluation = order_balanced(evaluation, settings.per_device_batch_size, config.train.seed)
        else:
            evaluation = []
    stats = {
        "files": [str(p) for p in files],
        "tool_offer": tool_offer_record(config.dataset.tools, config.dataset.tool_distractors, rows),
        "conversations": len(conversations),
        "skipped": len(formatted.skipped),
        "duplicates": duplicates,
        "too_long": len(too_long),
        "train": len(train),
        "eval": len(evaluation),
        "tokens": _length_stats(lengths),
        "max_length": max_length,
    }
    if method == "kto":
        stats["labels"] = {"desirable": label_counts(train)[True], "undesirable": label_counts(train)[False]}
    example = _example_text(method, processed[0] if processed else None, tokenizer)
    return PreparedData(method, train, evaluation, template, note, stats, example, findings)


def _check_kto(rows: Sequence[dict[str, Any]], batch_size: int, files: Sequence[Path]) -> None:
    counts = label_counts(rows)
    if not counts[True] or not counts[False]:
        only = "true (desirable)" if counts[True] else "false (undesirable)"
        raise ToolsetError(
            f"KTO data in {', '.join(map(str, files))} holds only label={only} examples ({max(counts.values())}): "
            "KTO learns from both desirable and undesirable examples — add the other label"
        )
    if batch_size < 2:
        raise ToolsetError(
            "train.kto.per_device_batch_size is 1: KTO estimates its KL term from the other examples of the same "
            "batch, so it needs at least 2 (raise it, and lower gradient_accumulation_steps to keep the effective size)"
        )


def order_balanced(rows: list[dict[str, Any]], batch_size: int, seed: int) -> list[dict[str, Any]]:
    """Rows in the order of :func:`toolset.formatters.balanced_batches`: each consecutive chunk holds both labels."""
    plan = balanced_batches([row["label"] for row in rows], batch_size, seed)
    return [rows[index] for batch in plan for index in batch]


def _example_text(method: str, item: dict[str, Any] | None, tokenizer: Any) -> str:
    if item is None:
        return ""
    if method == "kto":
        return f"{item['prompt']}{item['completion']}"
    return tokenizer.decode(item["input_ids"])
