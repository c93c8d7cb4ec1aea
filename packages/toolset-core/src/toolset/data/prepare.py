"""Training-data preparation, one path for every trainer (toolset-cuda's SFT and KTO, toolset-mlx's stages):

read -> format (through the Formatter registry) -> de-duplicate -> render and tokenize with the chat template
-> length policy -> split -> batch plan and KTO weights.

The caller passes the tokenizer in (core loads no model library at import time). SFT rows become
:class:`Example` items: token ids and a per-token loss mask (1 on assistant turns). KTO rows become
prompt / completion text rendered with the same template, ordered so that every batch holds both labels (TRL's
KTO reads batches in order and estimates its KL term from each example's batch neighbours).
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from toolset.config import RunConfig
from toolset.data import Conversation, Finding
from toolset.data.formatters import tool_offer_record
from toolset.errors import ToolsetError
from toolset.weights import chat_templates

METHODS = ("sft", "kto")


@attrs.define
class Example:
    """One tokenized SFT row: ``mask[i]`` is 1 where token ``i`` is trained on; ``where`` is "file:line"."""

    input_ids: list[int]
    mask: list[int]
    where: str = ""

    def __len__(self) -> int:
        return len(self.input_ids)


@attrs.define
class Prepared:
    """What a trainer consumes (``train``, ``eval``: :class:`Example` items for SFT, prompt/completion/label
    dicts for KTO), the template it was rendered with, and what ``--dry-run`` prints (``stats``, ``example``)."""

    method: str
    train: list[Any]
    eval: list[Any]
    chat_template: str
    template_note: str
    stats: dict[str, Any]
    example: str
    findings: list[Finding] = attrs.Factory(list)


# --- the model side: tokenizer and chat template ------------------------------------------------


def model_type(model_dir: Path) -> str | None:
    """``model_type`` from a Hugging Face folder's config.json (None when unreadable)."""
    try:
        return json.loads((Path(model_dir) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def load_tokenizer(model_dir: Path, *, trust_remote_code: bool = False) -> Any:
    """The Hugging Face tokenizer of a local model folder, with a pad token (EOS when it has none)."""
    try:
        from transformers import AutoTokenizer
    except ImportError as error:  # pragma: no cover - every trainer plugin depends on transformers
        raise ToolsetError("preparing training data needs transformers: pip install 'toolset-core[cuda]'") from error
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def template_for(tokenizer: Any, config: RunConfig, *, model_type: str | None = None) -> tuple[str, str]:
    """The chat template to train with, and a sentence for the run log saying which and why: the one decision
    every trainer follows (:func:`toolset.weights.chat_templates.choose` with the run's style and override)."""
    return chat_templates.choose(
        tokenizer,
        style=config.dataset.tool_call_style,
        override=config.model.chat_template,
        model_name=config.model.name,
        model_type=model_type,
    )


# --- reading and formatting ---------------------------------------------------------------------


def check_files(files: Sequence[str | Path], where: str, what: str = "training") -> list[Path]:
    """The files as paths; an error naming ``where`` (the config key or stage) when none is given or one is missing."""
    paths = [Path(p) for p in files]
    if not paths:
        raise ToolsetError(f"no {what} data: {where} names no file (give one or more JSONL files)")
    for path in paths:
        if not path.is_file():
            raise ToolsetError(f"{where}: {path}: file not found")
    return paths


def read(files: Sequence[Path], fmt: str = "auto") -> tuple[list[Conversation], list[Finding]]:
    """Every conversation of ``files`` (in order) and the readers' findings."""
    from toolset.data.readers import read_conversations

    findings: list[Finding] = []
    conversations: list[Conversation] = []
    for path in files:
        conversations.extend(read_conversations(path, format=fmt, findings=findings))
    return conversations, findings


def formatter_settings(method: str, config: RunConfig) -> Any:
    """The registered ``method`` formatter's settings, filled from ``dataset`` (style, tool offer, tool set)."""
    from toolset import get_formatter

    settings = get_formatter(method).default_config()
    if settings is None or not attrs.has(type(settings)):
        return settings
    values = {
        "tool_call_style": config.dataset.tool_call_style,
        "tools": config.dataset.tools,
        "distractors": config.dataset.tool_distractors,
        "toolset": config.dataset.toolset,
    }
    known = {field.name for field in attrs.fields(type(settings))}
    return attrs.evolve(settings, **{k: v for k, v in values.items() if k in known})


def format_rows(
    method: str, conversations: Sequence[Conversation], config: RunConfig
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Rows from the registered ``method`` formatter (a plugin may replace it) and what it skipped."""
    from toolset import get_formatter

    result = get_formatter(method).factory(conversations, formatter_settings(method, config))
    return list(getattr(result, "rows", result)), list(getattr(result, "skipped", []))


# --- de-duplication, length policy, splitting, batch plan ---------------------------------------


def row_key(row: dict[str, Any]) -> str:
    """A content hash of a row (messages or prompt+completion, label, tools); ``source``/``line`` ignored."""
    content = {key: value for key, value in row.items() if key not in {"source", "line"}}
    text = json.dumps(_without_ids(content), sort_keys=False, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in {"id", "tool_call_id"}}
    if isinstance(value, list):
        return [_without_ids(item) for item in value]
    return value


def deduplicate(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop exact repeats (same content, whatever the call ids); returns the rows kept and how many were dropped."""
    seen: set[str] = set()
    kept = []
    dropped = 0
    for row in rows:
        key = row_key(row)
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(row)
    return kept, dropped


def too_long_finding(
    too_long: Sequence[str], max_length: int, *, policy: str, any_kept: bool, what: str = "example(s)"
) -> Finding | None:
    """The rule for examples over ``max_length`` tokens (``too_long``: "file:line (N tokens)" each): an error
    when ``policy`` is "error" or nothing is left, else a warning finding that they were left out."""
    if not too_long:
        return None
    where = "; ".join(too_long[:5]) + (f"; and {len(too_long) - 5} more" if len(too_long) > 5 else "")
    message = f"{len(too_long)} {what} longer than max length {max_length} tokens: {where}"
    if policy == "error" or not any_kept:
        raise ToolsetError(
            message
            + ". Raise model.max_seq_length / dataset.max_length, or shorten those examples"
            + ("" if any_kept else " (no example is left)")
        )
    return Finding(code="format.too_long", message=message + " — left out", severity="warning")


def _label(row: Any) -> Any:
    return row.get("label") if isinstance(row, dict) else None


def split_rows(rows: Sequence[Any], eval_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """A seeded train/eval split; rows with a ``label`` are split per label so both sides keep both labels."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    groups: dict[Any, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(_label(row), []).append(index)
    rng = random.Random(seed)
    train: list[int] = []
    evaluation: list[int] = []
    for key in sorted(groups, key=str):
        indices = groups[key]
        rng.shuffle(indices)
        count = round(len(indices) * eval_fraction)
        if eval_fraction > 0 and count == 0 and len(indices) >= 10:
            count = 1
        evaluation += indices[:count]
        train += indices[count:]
    return [rows[i] for i in sorted(train)], [rows[i] for i in sorted(evaluation)]


def label_counts(rows: Iterable[dict[str, Any]]) -> dict[bool, int]:
    counts = {True: 0, False: 0}
    for row in rows:
        counts[bool(row["label"])] += 1
    return counts


def balanced_batches(labels: Sequence[bool], batch_size: int, seed: int) -> list[list[int]]:
    """Plan batches of ``batch_size`` indices so that every batch holds both labels.

    Labels are shuffled (seeded) within each class and dealt round-robin in proportion; when the minority class
    has fewer examples than there are batches, its examples are reused (cycled) so no batch lacks it.
    """
    if batch_size < 2:
        raise ValueError("a batch must hold at least 2 examples to hold both labels")
    positives = [i for i, label in enumerate(labels) if label]
    negatives = [i for i, label in enumerate(labels) if not label]
    if not positives or not negatives:
        raise ValueError("both labels are needed")
    rng = random.Random(seed)
    rng.shuffle(positives)
    rng.shuffle(negatives)
    total = len(labels)
    batches = max(1, total // batch_size)
    share = len(positives) / total
    plan: list[list[int]] = []
    pos_iter, neg_iter = _cycle(positives), _cycle(negatives)
    used_pos = 0
    for number in range(batches):
        want_pos = round((number + 1) * batch_size * share) - used_pos
        want_pos = min(max(want_pos, 1), batch_size - 1)
        batch = [next(pos_iter) for _ in range(want_pos)] + [next(neg_iter) for _ in range(batch_size - want_pos)]
        used_pos += want_pos
        rng.shuffle(batch)
        plan.append(batch)
    rng.shuffle(plan)
    return plan


def _cycle(items: list[int]) -> Iterator[int]:
    while True:
        yield from items


def order_balanced(rows: list[dict[str, Any]], batch_size: int, seed: int) -> list[dict[str, Any]]:
    """Rows in the order of :func:`balanced_batches`: each consecutive chunk of ``batch_size`` holds both labels."""
    plan = balanced_batches([row["label"] for row in rows], batch_size, seed)
    return [rows[index] for batch in plan for index in batch]


def kto_weights(labels: Sequence[bool]) -> tuple[float, float]:
    """(desirable, undesirable) weights so that λ_D·n_D = λ_U·n_U (the KTO paper's recommended balance)."""
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return 1.0, 1.0
    if positives >= negatives:
        return 1.0, round(positives / negatives, 4)
    return round(negatives / positives, 4), 1.0


def check_kto(rows: Sequence[dict[str, Any]], batch_size: int, files: Sequence[Path]) -> None:
    """KTO needs both labels and batches of at least 2 (its KL estimate pairs each example with its neighbours)."""
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


# --- rendering with the chat template -----------------------------------------------------------


def _where(row: dict[str, Any]) -> str:
    return f"{row.get('source')}:{row.get('line')}" if row.get("source") else ""


def encode(tokenizer: Any, row: dict[str, Any], template: str, *, mask_prompt: bool = True) -> Example:
    """Render an SFT row (``messages``, ``tools``) with ``template`` and mark the tokens the loss sees.

    ``mask_prompt``: loss on assistant turns only — every assistant turn, from the template's
    ``{% generation %}`` markers; for a template without them, the final assistant message (the prompt before
    it must render as a prefix). False: loss on every token.
    """
    where = _where(row)
    messages, tools = row.get("messages"), row.get("tools") or None
    if not messages:
        raise ToolsetError(f"{where or 'a row'}: a chat row needs 'messages'")
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


def _strip_bos(tokenizer: Any, text: str) -> str:
    """Drop a leading BOS the template wrote when the tokenizer adds its own (no doubled BOS)."""
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos):
        ids = tokenizer("x")["input_ids"]
        if ids and ids[0] == tokenizer.bos_token_id:
            return text[len(bos) :]
    return text


def render_kto(tokenizer: Any, row: dict[str, Any], template: str) -> dict[str, Any]:
    """A KTO row as prompt / completion text (the completion: what the template writes after the prompt)."""
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


def _tokenized(method: str, tokenizer: Any, row: dict[str, Any], template: str, mask_prompt: bool) -> tuple[Any, int]:
    if method == "sft":
        example = encode(tokenizer, row, template, mask_prompt=mask_prompt)
        return example, len(example)
    item = render_kto(tokenizer, row, template)
    item["_where"] = _where(row)
    return item, len(tokenizer(item["prompt"] + item["completion"])["input_ids"])


# --- the whole path -----------------------------------------------------------------------------


def prepare(
    method: str,
    config: RunConfig,
    tokenizer: Any,
    *,
    files: Sequence[str | Path] | None = None,
    name: str | None = None,
    template: str | None = None,
    model_type: str | None = None,
    mask_prompt: bool = True,
    batch_size: int | None = None,
) -> Prepared:
    """Read, format, de-duplicate, render, measure, split and order ``method``'s data; raise on unusable input.

    ``files``: the JSONL files (default ``dataset.sft`` / ``dataset.kto``); ``name`` says where they come from
    in messages (a stage, say). ``template``: the chat template (default: :func:`template_for`'s choice).
    ``batch_size``: KTO's per-device batch (default ``train.kto.per_device_batch_size``).
    """
    if method not in METHODS:
        raise ToolsetError(f"unknown training method {method!r}; known: {', '.join(METHODS)}")
    where = name or f"dataset.{method}"
    paths = check_files(getattr(config.dataset, method) if files is None else files, where, method.upper())
    conversations, findings = read(paths, config.dataset.format)
    rows, skipped = format_rows(method, conversations, config)
    findings += skipped
    duplicates = 0
    if config.dataset.deduplicate:
        rows, duplicates = deduplicate(rows)
    if not rows:
        raise ToolsetError(f"{where}: no usable {method.upper()} examples in {', '.join(map(str, paths))}")
    batch = batch_size or config.train.kto.per_device_batch_size
    if method == "kto":
        check_kto(rows, batch, paths)
    note = "chat template: given by the caller"
    if template is None:
        template, note = template_for(tokenizer, config, model_type=model_type)
    max_length = config.dataset.max_length or config.model.max_seq_length
    kept: list[Any] = []
    lengths: list[int] = []
    too_long: list[str] = []
    for row in rows:
        item, length = _tokenized(method, tokenizer, row, template, mask_prompt)
        lengths.append(length)
        if length > max_length:
            too_long.append(f"{_where(row)} ({length} tokens)")
        else:
            kept.append(item)
    what = f"{method.upper()} example(s)" + (f" of {name}" if name else "")
    finding = too_long_finding(too_long, max_length, policy=config.dataset.overlength, any_kept=bool(kept), what=what)
    if finding:
        findings.append(finding)
    train, evaluation = split_rows(kept, config.dataset.eval_fraction, config.dataset.seed)
    if method == "kto":
        train, evaluation = _kto_order(train, evaluation, batch, config.train.seed, paths)
    stats = {
        "files": [str(p) for p in paths],
        "tool_offer": tool_offer_record(config.dataset.tools, config.dataset.tool_distractors, rows),
        "conversations": len(conversations),
        "skipped": len(skipped),
        "rows": len(rows),
        "duplicates": duplicates,
        "too_long": len(too_long),
        "train": len(train),
        "eval": len(evaluation),
        "tokens": _length_stats(lengths),
        "max_length": max_length,
    }
    if method == "sft":
        stats["trained_tokens"] = sum(sum(example.mask) for example in kept)
    else:
        counts = label_counts(train)
        stats["labels"] = {"desirable": counts[True], "undesirable": counts[False]}
    return Prepared(method, train, evaluation, template, note, stats, _example_text(kept, tokenizer), findings)


def _kto_order(
    train: list[dict[str, Any]], evaluation: list[dict[str, Any]], batch: int, seed: int, paths: Sequence[Path]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    check_kto(train, batch, paths)
    train = order_balanced(train, batch, seed)
    if len(evaluation) >= batch and min(label_counts(evaluation).values()):
        return train, order_balanced(evaluation, batch, seed)
    return train, []


def _example_text(kept: Sequence[Any], tokenizer: Any) -> str:
    if not kept:
        return ""
    first = kept[0]
    if isinstance(first, Example):
        return tokenizer.decode(first.input_ids)
    return f"{first['prompt']}{first['completion']}"
