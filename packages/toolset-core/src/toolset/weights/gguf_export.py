"""GGUF export without a llama.cpp checkout: a merged Hugging Face folder becomes a GGUF file written in Python
with the ``gguf`` package; quantization goes through llama.cpp's own library as shipped by llama-cpp-python.

Supported: llama and mistral (``llama``; Mistral's sliding window is not written, llama.cpp attends to the
whole context), qwen2 and qwen3, and Gemma 3 text models (``gemma3``: see :func:`gemma3_settings`); tokenizers
as in gguf_vocab. numpy, gguf and llama_cpp are imported inside
the functions that need them. gpt-oss (``gpt-oss``): see gguf_gpt_oss.
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path
from typing import Any

import attrs

from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_path, captured_native_output, check_free_space
from toolset.weights import gguf_gpt_oss
from toolset.weights.gguf_vocab import add_tokenizer
from toolset.weights.safetensors_io import iter_tensors, model_files

ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Gemma3ForCausalLM": "gemma3",
    "GptOssForCausalLM": "gpt-oss",
}
FLOAT_TYPES = ("f32", "f16", "bf16")


def quantization_types() -> list[str]:
    """Every llama.cpp quantization type this llama-cpp-python build offers (``q8_0``, ``q4_k_m``, ...)."""
    import llama_cpp

    prefix = "LLAMA_FTYPE_MOSTLY_"
    return sorted(name[len(prefix) :].lower() for name in dir(llama_cpp) if name.startswith(prefix))


@attrs.define(kw_only=True)
class GGUFExportConfig:
    """``out_type``: f32, f16, bf16 or a llama.cpp quantization type (q8_0, q4_k_m, q5_k_m, ...)."""

    out_type: str = "f16"
    verify: bool = True
    name: str | None = None
    overwrite: bool = False
    threads: int = 0


@attrs.define
class Hyperparameters:
    architecture: str
    n_layer: int
    n_head: int
    n_head_kv: int
    hidden: int
    feed_forward: int
    context: int
    rms_eps: float
    rope_theta: float
    head_dim: int
    vocab_size: int
    tied_embeddings: bool
    sliding_window: int | None = None
    rope_scaling_factor: float | None = None
    gpt_oss: dict[str, Any] | None = None  # gguf_gpt_oss.settings: experts, sliding window, YaRN


def read_hyperparameters(model_dir: Path) -> Hyperparameters:
    path = model_dir / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ToolsetError(
            f"{model_dir}: config.json not found (a merged Hugging Face model folder is expected)"
        ) from None
    architecture = (config.get("architectures") or ["unknown"])[0]
    if architecture not in ARCHITECTURES:
        raise ToolsetError(
            f"{path}: architecture {architecture} is not supported yet for GGUF export "
            f"(supported: {', '.join(sorted(ARCHITECTURES))})"
        )
    rope = config.get("rope_parameters") or {}
    n_head = config["num_attention_heads"]
    gemma = gemma3_settings(path, config) if ARCHITECTURES[architecture] == "gemma3" else {}
    return Hyperparameters(
        architecture=ARCHITECTURES[architecture],
        n_layer=config["num_hidden_layers"],
        n_head=n_head,
        n_head_kv=config.get("num_key_value_heads") or n_head,
        hidden=config["hidden_size"],
        feed_forward=config["intermediate_size"],
        context=config.get("max_position_embeddings", 4096),
        rms_eps=config.get("rms_norm_eps", 1e-5),
        rope_theta=gemma.get("rope_theta") or config.get("rope_theta") or rope.get("rope_theta") or 10000.0,
        head_dim=config.get("head_dim") or config["hidden_size"] // n_head,
        vocab_size=config["vocab_size"],
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        sliding_window=gemma.get("sliding_window"),
        rope_scaling_factor=gemma.get("rope_scaling_factor"),
        gpt_oss=gguf_gpt_oss.settings(path, config) if ARCHITECTURES[architecture] == "gpt-oss" else None,
    )


# What llama.cpp's gemma3 model assumes rather than reads from the file: local (sliding-window) layers rotate with
# base 10000 and every sixth layer is global; queries are scaled by 1/sqrt(head_dim) (1/sqrt(hidden / heads) for
# the 62-layer 27B); no logit soft-capping; causal attention.
GEMMA3_LOCAL_ROPE_BASE = 10000.0
GEMMA3_PATTERN = 6


def export_problem(model_dir: Path) -> str | None:
    """Why the model in ``model_dir`` cannot be exported to GGUF (its architecture or settings), or None: read
    from ``config.json`` alone, so a training plan can say it before anything trains."""
    try:
        read_hyperparameters(model_dir)
    except ToolsetError as exc:
        return str(exc)
    except (KeyError, TypeError, ValueError) as exc:
        return f"{model_dir / 'config.json'}: {type(exc).__name__}: {exc}"
    return None


def gemma3_settings(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The global rope base, sliding window and rope scaling of a Gemma 3 text config.json (the layout of
    transformers 5, ``rope_parameters`` per layer type, or the older ``rope_theta`` / ``rope_local_base_freq``),
    or a clear error naming the field llama.cpp's gemma3 cannot represent."""

    def refuse(field: str, value: Any, why: str) -> ToolsetError:
        return ToolsetError(f"{path}: {field} = {value!r}: {why}; llama.cpp's gemma3 cannot run it (GGUF export)")

    rope = config.get("rope_parameters") or {}
    full = rope.get("full_attention") or {}
    local = rope.get("sliding_attention") or {}
    if config.get("rope_scaling"):
        full = {**config["rope_scaling"], **full}
    layers = config["num_hidden_layers"]
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    window = config.get("sliding_window")
    if not window:
        raise refuse("sliding_window", window, "Gemma 3 export expects sliding-window layers")
    pattern = config.get("sliding_window_pattern") or GEMMA3_PATTERN
    kinds = config.get("layer_types") or [
        "sliding_attention" if (index + 1) % pattern else "full_attention" for index in range(layers)
    ]
    expected = [
        "sliding_attention" if index % GEMMA3_PATTERN < GEMMA3_PATTERN - 1 else "full_attention"
        for index in range(layers)
    ]
    if list(kinds) != expected:
        raise refuse("layer_types", kinds, "llama.cpp makes every sixth layer global (5 sliding, then 1 full)")
    local_base = local.get("rope_theta") or config.get("rope_local_base_freq") or GEMMA3_LOCAL_ROPE_BASE
    if float(local_base) != GEMMA3_LOCAL_ROPE_BASE:
        raise refuse("the sliding layers' rope_theta", local_base, "llama.cpp uses 10000 for them")
    if local.get("rope_type", "default") != "default":
        raise refuse("the sliding layers' rope_type", local.get("rope_type"), "llama.cpp scales only global layers")
    scalar = config.get("query_pre_attn_scalar", head_dim)
    wanted = config["hidden_size"] // config["num_attention_heads"] if layers == 62 else head_dim
    if scalar != wanted:
        raise refuse("query_pre_attn_scalar", scalar, f"llama.cpp scales queries by 1/sqrt({wanted})")
    for field in ("attn_logit_softcapping", "final_logit_softcapping"):
        if config.get(field) is not None:
            raise refuse(field, config[field], "llama.cpp's gemma3 applies no soft-capping")
    if config.get("use_bidirectional_attention"):
        raise refuse("use_bidirectional_attention", True, "llama.cpp's gemma3 attends causally")
    kind = full.get("rope_type") or full.get("type") or "default"
    if kind not in ("default", "linear"):
        raise refuse("the global layers' rope_type", kind, "only default and linear rope scaling are written")
    return {
        "rope_theta": full.get("rope_theta") or config.get("rope_theta") or 1_000_000.0,
        "sliding_window": int(window),
        "rope_scaling_factor": float(full["factor"]) if kind == "linear" else None,
    }


def _permute(weight: Any, heads: int) -> Any:
    """Reorder llama q/k rows from Hugging Face's half-split rotary layout to llama.cpp's interleaved one."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def convert(model_dir: Path, destination: Path, out_type: str = "f16", *, name: str | None = None) -> Path:
    """Write ``destination`` (a .gguf file) from the Hugging Face folder ``model_dir`` at f32, f16 or bf16."""
    import gguf
    import numpy as np

    if out_type not in FLOAT_TYPES:
        raise ToolsetError(f"out type {out_type!r}: convert writes {', '.join(FLOAT_TYPES)}; quantize afterwards")
    model_dir, destination = Path(model_dir), Path(destination)
    hp = read_hyperparameters(model_dir)
    source_bytes = sum(path.stat().st_size for path in model_files(model_dir))
    check_free_space(destination.parent, int(source_bytes * (2.2 if out_type == "f32" else 1.2)), "the GGUF file")
    arch = gguf.MODEL_ARCH[hp.architecture.upper().replace("-", "_")]
    name_map = gguf.get_tensor_name_map(arch, hp.n_layer)
    tensor_type = {
        "f32": gguf.GGMLQuantizationType.F32,
        "f16": gguf.GGMLQuantizationType.F16,
        "bf16": gguf.GGMLQuantizationType.BF16,
    }[out_type]
    file_type = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "bf16": gguf.LlamaFileType.MOSTLY_BF16,
    }[out_type]

    with atomic_path(destination) as temporary:
        writer = gguf.GGUFWriter(temporary, hp.architecture)
        writer.add_name(name or model_dir.name)
        writer.add_context_length(hp.context)
        writer.add_embedding_length(hp.hidden)
        writer.add_block_count(hp.n_layer)
        writer.add_feed_forward_length(hp.feed_forward)
        writer.add_head_count(hp.n_head)
        writer.add_head_count_kv(hp.n_head_kv)
        writer.add_rope_freq_base(float(hp.rope_theta))
        writer.add_layer_norm_rms_eps(float(hp.rms_eps))
        writer.add_rope_dimension_count(hp.head_dim)
        if hp.head_dim != hp.hidden // hp.n_head:
            writer.add_key_length(hp.head_dim)
            writer.add_value_length(hp.head_dim)
        writer.add_vocab_size(hp.vocab_size)
        if hp.sliding_window:
            writer.add_sliding_window(hp.sliding_window)
        if hp.rope_scaling_factor:
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(hp.rope_scaling_factor)
        if hp.gpt_oss:
            gguf_gpt_oss.add_keys(writer, hp.gpt_oss)
        writer.add_file_type(file_type)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        add_tokenizer(writer, model_dir, hp.vocab_size)
        tensors = iter_tensors(model_dir)
        if hp.gpt_oss:
            tensors = gguf_gpt_oss.tensors(tensors, model_dir)
        for tensor_name, array, _dtype in tensors:
            if tensor_name.endswith("rotary_emb.inv_freq") or (tensor_name == "lm_head.weight" and hp.tied_embeddings):
                continue
            mapped = name_map.get_name(tensor_name, try_suffixes=(".weight", ".bias"))
            if mapped is None:
                raise ToolsetError(f"{model_dir}: tensor {tensor_name} has no GGUF name for {hp.architecture}")
            data = array.astype(np.float32)
            if hp.architecture == "llama" and tensor_name.endswith("self_attn.q_proj.weight"):
                data = _permute(data, hp.n_head)
            elif hp.architecture == "llama" and tensor_name.endswith("self_attn.k_proj.weight"):
                data = _permute(data, hp.n_head_kv)
            elif hp.architecture == "gemma3" and tensor_name.endswith("norm.weight"):
                data = data + 1.0  # Gemma's RMSNorm scales by (1 + w); llama.cpp's by the stored weight
            if data.ndim == 1 or tensor_type == gguf.GGMLQuantizationType.F32 or gguf_gpt_oss.keeps_float32(mapped):
                writer.add_tensor(mapped, np.ascontiguousarray(data))
            elif tensor_type == gguf.GGMLQuantizationType.F16:
                writer.add_tensor(mapped, data.astype(np.float16))
            else:
                writer.add_tensor(mapped, gguf.quants.quantize(data, tensor_type), raw_dtype=tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return destination


def quantize(source: Path, destination: Path, out_type: str, *, threads: int = 0) -> Path:
    """Quantize a GGUF file with llama.cpp's ``llama_model_quantize`` (no binary, no build)."""
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{out_type.upper()}", None)
    if ftype is None:
        raise ToolsetError(f"unknown quantization type {out_type!r}; known: {', '.join(quantization_types())}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads or os.cpu_count() or 1
    check_free_space(Path(destination).parent, Path(source).stat().st_size, "the quantized GGUF file")
    with atomic_path(Path(destination)) as temporary:
        with captured_native_output() as log:
            status = llama_cpp.llama_model_quantize(str(source).encode(), str(temporary).encode(), ctypes.byref(params))
        if status != 0 or not temporary.is_file():
            tail = "\n".join(log[-5:])
            raise ToolsetError(f"llama.cpp failed to quantize {source} to {out_type} (status {status}):\n{tail}")
    return Path(destination)
