"""Hugging Face tokenizers as GGUF vocabularies, with llama.cpp's key names and token types.

Two families: byte-level BPE (``gpt2`` in GGUF: Llama 3, Qwen, SmolLM), read from tokenizer.json; and
SentencePiece BPE with byte fallback (``llama`` in GGUF: Llama 2, Mistral), read from tokenizer.model when
present (parsed here, no sentencepiece package needed) or else from tokenizer.json (a BPE with byte_fallback).
Tokens the Hugging Face tokenizer adds on top (chat control tokens, tokens added in fine-tuning) are taken
from tokenizer.json or tokenizer_config.json, since that tokenizer is the one the model was trained with.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from toolset.errors import ToolsetError

# Token types, as llama.cpp and SentencePiece number them.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPACE = "\u2581"  # SentencePiece's visible space
SUPPORTED = (
    "supported: byte-level BPE (Llama 3, Qwen, SmolLM) and SentencePiece BPE with byte fallback "
    "(Llama 2, Mistral), from tokenizer.json or tokenizer.model"
)
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
# Pre-tokenizer regexes llama.cpp knows by name (facts about the tokenizers, matched verbatim).
_LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# o200k (GPT-4o, gpt-oss): llama.cpp's "gpt-4o" pre-tokenizer.
_O200K_REGEX = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@attrs.define
class Vocabulary:
    """What goes under ``tokenizer.ggml.*``; ``model`` is ``gpt2`` or ``llama``."""

    model: str
    tokens: list[str]
    types: list[int]
    source: Path
    scores: list[float] | None = None
    merges: list[str] | None = None
    pre: str | None = None
    add_space_prefix: bool | None = None
    special_ids: dict[str, int] = attrs.Factory(dict)


# --- SentencePiece model files (protobuf, read without the sentencepiece or protobuf packages) ---------------


@attrs.define
class SentencePieceModel:
    """The parts of a SentencePiece ``ModelProto`` a GGUF vocabulary needs."""

    pieces: list[tuple[str, float, int]]
    model_type: str = "unigram"
    byte_fallback: bool = False
    add_dummy_prefix: bool = True
    special_ids: dict[str, int] = attrs.Factory(dict)


_SP_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, raw value) for each field of a protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield number, wire, value


def read_sentencepiece(path: Path) -> SentencePieceModel:
    """Pieces (text, score, type), model type, byte fallback and dummy-prefix setting of a tokenizer.model."""
    model = SentencePieceModel(pieces=[])
    try:
        for number, wire, value in _fields(Path(path).read_bytes()):
            if number == 1 and wire == 2:  # SentencePiece piece
                text, score, kind = "", 0.0, NORMAL
                for field, field_wire, item in _fields(value):
                    if field == 1 and field_wire == 2:
                        text = item.decode("utf-8")
                    elif field == 2 and field_wire == 5:
                        score = struct.unpack("<f", item)[0]
                    elif field == 3 and field_wire == 0:
                        kind = item
                model.pieces.append((text, score, kind))
            elif number == 2 and wire == 2:  # TrainerSpec
                for field, field_wire, item in _fields(value):
                    if field == 3 and field_wire == 0:
                        model.model_type = _SP_MODEL_TYPES.get(item, f"type {item}")
                    elif field == 35 and field_wire == 0:
                        model.byte_fallback = bool(item)
                    elif field in (40, 41, 42, 43) and field_wire == 0:
                        index = item - (1 << 64) if item >= 1 << 63 else item
                        model.special_ids[("unk", "bos", "eos", "pad")[field - 40]] = index
            elif number == 3 and wire == 2:  # NormalizerSpec
                for field, field_wire, item in _fields(value):
                    if field == 3 and field_wire == 0:
                        model.add_dummy_prefix = bool(item)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ToolsetError(f"{path}: not a readable SentencePiece model ({exc})") from None
    if not model.pieces:
        raise ToolsetError(f"{path}: not a readable SentencePiece model (no pieces)")
    model.special_ids.setdefault("unk", 0)
    model.special_ids.setdefault("bos", 1)
    model.special_ids.setdefault("eos", 2)
    return model


# --- reading the tokenizer of a model folder ---------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ToolsetError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    return data if isinstance(data, dict) else None


def _parts(node: Any) -> list[dict[str, Any]]:
    """A normalizer, pre-tokenizer or decoder and the members of its Sequence, flattened."""
    if not isinstance(node, dict):
        return []
    members = node.get("normalizers") or node.get("pretokenizers") or node.get("decoders")
    if node.get("type") == "Sequence" and isinstance(members, list):
        return [part for member in members for part in _parts(member)]
    return [node]


def _is_byte_level(tokenizer: dict[str, Any]) -> bool:
    model = tokenizer.get("model") or {}
    kinds = {part.get("type") for key in ("pre_tokenizer", "decoder") for part in _parts(tokenizer.get(key))}
    return model.get("type") == "BPE" and not model.get("byte_fallback") and "ByteLevel" in kinds


def _regexes(node: Any) -> list[str]:
    if isinstance(node, dict):
        pattern = node.get("pattern")
        found = [pattern["Regex"]] if isinstance(pattern, dict) and "Regex" in pattern else []
        return found + [regex for value in node.values() for regex in _regexes(value)]
    if isinstance(node, list):
        return [regex for value in node for regex in _regexes(value)]
    return []


def pre_tokenizer_name(tokenizer: dict[str, Any]) -> str:
    """The llama.cpp pre-tokenizer name matching this byte-level tokenizer.json, ``default`` when unknown."""
    pre = tokenizer.get("pre_tokenizer") or {}
    regexes = _regexes(pre)
    if _LLAMA3_REGEX in regexes:
        return "llama-bpe"
    if _QWEN2_REGEX in regexes:
        return "qwen2"
    if _O200K_REGEX in regexes:
        return "gpt-4o"
    parts = pre.get("pretokenizers", [pre])
    kinds = [part.get("type") for part in parts]
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    return "default"


def prepend_scheme(tokenizer: dict[str, Any] | None, settings: dict[str, Any]) -> str:
    """How the Hugging Face tokenizer puts SentencePiece's leading ``▁`` before each piece of text between
    special tokens: ``prepend`` (a normalizer: always, as llama.cpp does), or a Metaspace pre-tokenizer's
    scheme, which skips pieces that already start with a space: ``always``, ``first`` (only at the start of
    the input) or ``never``."""
    if tokenizer is None:  # built from tokenizer.model the way transformers builds Llama tokenizers
        if settings.get("add_prefix_space") is False:
            return "never"
        return "always" if settings.get("legacy") else "first"
    for part in _parts(tokenizer.get("normalizer")):
        if part.get("type") == "Prepend" and part.get("prepend") == SPACE:
            return "prepend"
    for part in _parts(tokenizer.get("pre_tokenizer")):
        if part.get("type") == "Metaspace":
            scheme = part.get("prepend_scheme")
            if scheme in ("always", "first", "never"):
                return scheme
            return "always" if part.get("add_prefix_space", True) else "never"
    return "never"


def _added_tokens(tokenizer: dict[str, Any] | None, settings: dict[str, Any]) -> list[tuple[int, str, bool]]:
    """(id, text, special) of the tokens the Hugging Face tokenizer matches before tokenizing the text."""
    if tokenizer is not None:
        return [
            (token["id"], token["content"], bool(token.get("special"))) for token in tokenizer.get("added_tokens", [])
        ]
    decoder = settings.get("added_tokens_decoder") or {}
    return [(int(index), token["content"], bool(token.get("special"))) for index, token in decoder.items()]


def _overlay_added(vocab: Vocabulary, added: list[tuple[int, str, bool]]) -> None:
    for index, text, special in added:
        while len(vocab.tokens) <= index:
            vocab.tokens.append(f"[PAD{len(vocab.tokens)}]")
            vocab.types.append(UNUSED)
            if vocab.scores is not None:
                vocab.scores.append(-1000.0)
        if vocab.model == "llama" and not special:
            text = text.replace(SPACE, " ")  # llama.cpp matches user-defined tokens in the raw text (Gemma's "▁▁")
        vocab.tokens[index] = text
        if vocab.types[index] not in (UNKNOWN, BYTE):
            vocab.types[index] = CONTROL if special else USER_DEFINED


def _pad(vocab: Vocabulary, size: int) -> None:
    while len(vocab.tokens) < size:
        vocab.tokens.append(f"[PAD{len(vocab.tokens)}]")
        vocab.types.append(UNUSED)
        if vocab.scores is not None:
            vocab.scores.append(-1000.0)


def _byte_level(path: Path, tokenizer: dict[str, Any], vocab_size: int) -> Vocabulary:
    model = tokenizer["model"]
    vocabulary = model["vocab"]
    size = max([vocab_size, len(vocabulary), *[token["id"] + 1 for token in tokenizer.get("added_tokens", [])]])
    tokens = [f"[PAD{index}]" for index in range(size)]
    types = [UNUSED] * size
    for text, index in vocabulary.items():
        tokens[index], types[index] = text, NORMAL
    vocab = Vocabulary("gpt2", tokens, types, path, pre=pre_tokenizer_name(tokenizer))
    _overlay_added(vocab, _added_tokens(tokenizer, {}))
    vocab.merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges", [])]
    return vocab


def _from_sentencepiece(path: Path, sp: SentencePieceModel) -> Vocabulary:
    if sp.model_type != "bpe":
        raise ToolsetError(
            f"{path}: SentencePiece {sp.model_type} tokenizers are not supported yet for GGUF export ({SUPPORTED})"
        )
    tokens, scores, types = [], [], []
    for text, score, kind in sp.pieces:
        kind = kind if NORMAL <= kind <= BYTE else NORMAL
        # llama.cpp matches user-defined tokens in the raw text, before spaces become ▁
        tokens.append(text.replace(SPACE, " ") if kind == USER_DEFINED else text)
        scores.append(score)
        types.append(kind)
    if BYTE not in types:
        raise ToolsetError(
            f"{path}: SentencePiece tokenizers without byte fallback are not supported yet for GGUF export "
            f"({SUPPORTED})"
        )
    special = {name: index for name, index in sp.special_ids.items() if 0 <= index < len(tokens)}
    return Vocabulary("llama", tokens, types, path, scores=scores, special_ids=special)


def _from_byte_fallback_json(path: Path, tokenizer: dict[str, Any], unk: str | None) -> Vocabulary:
    """A SentencePiece-style vocabulary from a tokenizer.json BPE: scores follow the merge ranks, so that
    llama.cpp's highest-score-first merging applies the merges in the same order as the BPE model."""
    model = tokenizer["model"]
    vocabulary: dict[str, int] = model["vocab"]
    merges = [merge.split(" ", 1) if isinstance(merge, str) else merge for merge in model.get("merges", [])]
    rank: dict[str, int] = {}
    for index, (left, right) in enumerate(merges):
        rank.setdefault(left + right, index)
    size = max(vocabulary.values(), default=-1) + 1
    tokens = [f"[PAD{index}]" for index in range(size)]
    types, scores = [UNUSED] * size, [-1000.0] * size
    unk = model.get("unk_token") or unk
    for text, index in vocabulary.items():
        tokens[index] = text
        types[index] = BYTE if _BYTE_TOKEN.fullmatch(text) else UNKNOWN if text == unk else NORMAL
        scores[index] = -float(rank[text]) if text in rank else -float(len(merges) + index)
    special = {"unk": vocabulary[unk]} if unk in vocabulary else {}
    return Vocabulary("llama", tokens, types, path, scores=scores, special_ids=special)


def read_vocabulary(model_dir: Path, vocab_size: int) -> Vocabulary:
    """The GGUF vocabulary of the tokenizer saved in ``model_dir``; clear errors for unsupported kinds."""
    model_dir = Path(model_dir)
    json_path, sp_path = model_dir / "tokenizer.json", model_dir / "tokenizer.model"
    tokenizer = _read_json(json_path)
    settings = _read_json(model_dir / "tokenizer_config.json") or {}
    model = (tokenizer or {}).get("model") or {}
    if tokenizer is not None and _is_byte_level(tokenizer):
        return _byte_level(json_path, tokenizer, vocab_size)
    vocab = None
    if sp_path.is_file():
        try:
            vocab = _from_sentencepiece(sp_path, read_sentencepiece(sp_path))
        except ToolsetError:
            if tokenizer is None:
                raise
    if vocab is None and model.get("type") == "BPE" and model.get("byte_fallback"):
        unk = settings.get("unk_token")
        vocab = _from_byte_fallback_json(json_path, tokenizer, unk.get("content") if isinstance(unk, dict) else unk)
    if vocab is None:
        if tokenizer is None:
            raise ToolsetError(
                f"{model_dir}: tokenizer.json not found; save the tokenizer with the merged model ({SUPPORTED})"
            )
        kind = model.get("type") or "unknown"
        if kind == "BPE":
            kind = "BPE (neither byte-level nor with byte fallback)"
        raise ToolsetError(f"{json_path}: {kind} tokenizers are not supported yet for GGUF export ({SUPPORTED})")
    _overlay_added(vocab, _added_tokens(tokenizer, settings))
    _pad(vocab, vocab_size)
    # llama.cpp either puts a space before every piece of text (at the start and after each special token) or
    # never: the first is exactly a Prepend normalizer. For a Metaspace pre-tokenizer, leaving it out matches
    # every piece that starts with a space or follows a special token ("first", transformers' default and
    # Mistral v0.3's): all of a chat prompt, which starts with a special token ([INST], BOS).
    vocab.add_space_prefix = prepend_scheme(tokenizer, settings) == "prepend"
    return vocab


# --- writing ----------------------------------------------------------------------------------------------


def _post_processor_adds(tokenizer: dict[str, Any] | None, token: str | None, first: bool) -> bool | None:
    """Whether tokenizer.json's template post-processor puts ``token`` first (or last) in a single sequence."""
    processor = (tokenizer or {}).get("post_processor") or {}
    for part in [processor, *(processor.get("processors") or [])]:
        single = part.get("single") if isinstance(part, dict) else None
        if isinstance(single, list) and single:
            edge = single[0] if first else single[-1]
            return isinstance(edge, dict) and (edge.get("SpecialToken") or {}).get("id") == token
    return None


def add_tokenizer(writer: Any, model_dir: Path, vocab_size: int) -> Vocabulary:
    """Write the tokenizer of ``model_dir`` (vocabulary, special tokens, chat template) with a GGUFWriter."""
    model_dir = Path(model_dir)
    vocab = read_vocabulary(model_dir, vocab_size)
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)

    tokenizer = _read_json(model_dir / "tokenizer.json")
    settings = _read_json(model_dir / "tokenizer_config.json") or {}
    model_config = _read_json(model_dir / "config.json") or {}
    lookup = {token: index for index, token in enumerate(vocab.tokens)}
    names = {}
    for key, add in (
        ("bos", writer.add_bos_token_id),
        ("eos", writer.add_eos_token_id),
        ("unk", writer.add_unk_token_id),
        ("pad", writer.add_pad_token_id),
    ):
        value = settings.get(f"{key}_token")
        value = value.get("content") if isinstance(value, dict) else value
        if value in lookup:
            add(lookup[value])
        elif isinstance(model_config.get(f"{key}_token_id"), int):
            add(model_config[f"{key}_token_id"])
        elif key in vocab.special_ids:
            add(vocab.special_ids[key])
        else:
            continue
        names[key] = value if value in lookup else None
    sentencepiece = vocab.model == "llama"
    bos, eos = names.get("bos") or "<s>", names.get("eos") or "</s>"
    add_bos = settings.get("add_bos_token")
    if add_bos is None:
        add_bos = _post_processor_adds(tokenizer, bos, first=True)
    writer.add_add_bos_token(bool(sentencepiece if add_bos is None else add_bos))
    add_eos = settings.get("add_eos_token")
    if add_eos is None:
        add_eos = _post_processor_adds(tokenizer, eos, first=False)
    if add_eos is not None or sentencepiece:
        writer.add_add_eos_token(bool(add_eos))
    template = settings.get("chat_template")
    template_file = model_dir / "chat_template.jinja"
    if template_file.is_file():
        template = template_file.read_text(encoding="utf-8")
    if template:
        from toolset.weights.chat_templates import without_generation_markers

        writer.add_chat_template(without_generation_markers(template))
    return vocab
