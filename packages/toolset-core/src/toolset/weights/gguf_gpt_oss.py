"""gpt-oss (``GptOssForCausalLM``) for GGUF export: llama.cpp's ``gpt-oss`` architecture.

What differs from the dense models: the experts are stored fused in Hugging Face (``gate_up_proj`` of shape
experts x hidden x 2*ffn with gate and up interleaved, ``down_proj`` of experts x ffn x hidden, with biases);
llama.cpp wants separate gate / up / down expert tensors, each experts x out x in. The attention sinks, the
router (``ffn_gate_inp``), alternating sliding-window / full attention and YaRN rope scaling are written as
llama.cpp's gpt-oss reads them. The source must hold 16-bit or 32-bit weights: the MXFP4 experts of the
published checkpoint are refused with a message (``toolset export merged-16bit`` writes dequantized weights).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolset.errors import ToolsetError
from toolset.weights.safetensors_io import model_files, read_header

ARCHITECTURE = "gpt-oss"
# llama.cpp's gpt-oss computes the clamped SwiGLU with these constants rather than reading them from the file.
SWIGLU_ALPHA = 1.702
SWIGLU_LIMIT = 7.0
MXFP4_MESSAGE = (
    "holds gpt-oss's MXFP4-quantized experts; GGUF export reads 16-bit weights: "
    "write a merged 16-bit folder first (toolset export merged-16bit RUN_DIR OUT dequantizes them)"
)


def settings(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The gpt-oss keys of ``config.json`` that GGUF needs, or a clear error naming what llama.cpp cannot run."""

    def refuse(field: str, value: Any, why: str) -> ToolsetError:
        return ToolsetError(f"{path}: {field} = {value!r}: {why}; llama.cpp's gpt-oss cannot run it (GGUF export)")

    quantization = config.get("quantization_config") or {}
    if quantization.get("quant_method") == "mxfp4" and _has_mxfp4_tensors(path.parent):
        raise ToolsetError(f"{path.parent} {MXFP4_MESSAGE}")
    layers = config["num_hidden_layers"]
    expected = ["sliding_attention" if index % 2 == 0 else "full_attention" for index in range(layers)]
    kinds = config.get("layer_types") or expected
    if list(kinds) != expected:
        raise refuse("layer_types", kinds, "llama.cpp alternates sliding-window and full attention, sliding first")
    for field, wanted in (("swiglu_alpha", SWIGLU_ALPHA), ("swiglu_limit", SWIGLU_LIMIT)):
        if float(config.get(field, wanted)) != wanted:
            raise refuse(field, config[field], f"llama.cpp's gpt-oss uses {wanted}")
    rope = {**(config.get("rope_scaling") or {}), **(config.get("rope_parameters") or {})}
    kind = rope.get("rope_type") or rope.get("type") or "default"
    if kind not in ("default", "yarn"):
        raise refuse("rope_type", kind, "only YaRN (gpt-oss's) or no rope scaling is written")
    window = config.get("sliding_window")
    if not window:
        raise refuse("sliding_window", window, "gpt-oss's sliding-window layers need a window")
    result: dict[str, Any] = {
        "experts": int(config["num_local_experts"]),
        "experts_used": int(config.get("num_experts_per_tok") or config["experts_per_token"]),
        "expert_feed_forward": int(config["intermediate_size"]),
        "sliding_window": int(window),
    }
    if kind == "yarn":
        result["yarn"] = {
            "factor": float(rope["factor"]),
            "original_context": int(
                rope.get("original_max_position_embeddings") or config.get("initial_context_length") or 4096
            ),
            "beta_fast": float(rope.get("beta_fast") or 32.0),
            "beta_slow": float(rope.get("beta_slow") or 1.0),
        }
    return result


def add_keys(writer: Any, values: dict[str, Any]) -> None:
    """Write the gpt-oss keys (experts, sliding window, YaRN) with a GGUFWriter."""
    import gguf

    writer.add_expert_count(values["experts"])
    writer.add_expert_used_count(values["experts_used"])
    writer.add_expert_feed_forward_length(values["expert_feed_forward"])
    writer.add_sliding_window(values["sliding_window"])
    yarn = values.get("yarn")
    if yarn:
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(yarn["factor"])
        writer.add_rope_scaling_orig_ctx_len(yarn["original_context"])
        writer.add_rope_scaling_yarn_beta_fast(yarn["beta_fast"])
        writer.add_rope_scaling_yarn_beta_slow(yarn["beta_slow"])


def tensors(items: Iterator[tuple[str, Any, str]], model_dir: Path) -> Iterator[tuple[str, Any, str]]:
    """Hugging Face gpt-oss tensors renamed and reshaped so that the gguf package's name map and llama.cpp's
    layout fit: sinks get ``.weight``; fused experts are split into gate / up and transposed to out x in."""
    for name, array, dtype in items:
        if name.endswith(("_blocks", "_scales")):
            raise ToolsetError(f"{model_dir}: tensor {name} {MXFP4_MESSAGE}")
        if name.endswith("self_attn.sinks"):
            yield name + ".weight", array, dtype
        elif name.endswith("mlp.experts.gate_up_proj"):  # experts x hidden x 2*ffn, gate and up interleaved
            fused = array.swapaxes(-1, -2)
            yield name.replace("gate_up_proj", "gate_proj.weight"), fused[:, 0::2, :], dtype
            yield name.replace("gate_up_proj", "up_proj.weight"), fused[:, 1::2, :], dtype
        elif name.endswith("mlp.experts.gate_up_proj_bias"):
            yield name.replace("gate_up_proj_bias", "gate_proj.bias"), array[:, 0::2], dtype
            yield name.replace("gate_up_proj_bias", "up_proj.bias"), array[:, 1::2], dtype
        elif name.endswith("mlp.experts.down_proj"):  # experts x ffn x hidden
            yield name + ".weight", array.swapaxes(-1, -2), dtype
        elif name.endswith("mlp.experts.down_proj_bias"):
            yield name.replace("down_proj_bias", "down_proj.bias"), array, dtype
        else:
            yield name, array, dtype


def keeps_float32(gguf_name: str) -> bool:
    """Tensors written in float32 whatever the file type: the router and every bias (llama.cpp adds the experts'
    biases with float32 operands)."""
    return gguf_name.endswith(".bias") or ".ffn_gate_inp." in gguf_name


def _has_mxfp4_tensors(model_dir: Path) -> bool:
    try:
        files = model_files(model_dir)
    except ToolsetError:
        return False
    return any(name.endswith("_blocks") for path in files for name in read_header(path)[0])


REFERENCE_NOTE = (
    "the Hugging Face side rounds YaRN's correction range to whole dimensions, as llama.cpp does "
    "(gpt-oss's config.json says truncate: false)"
)


def reference_config(model_dir: Path) -> Any | None:
    """The transformers config to compare llama.cpp's output with: for gpt-oss with YaRN ``truncate: false``,
    the same config with ``truncate: true``, since llama.cpp always rounds the correction range (the export
    itself is exact; the rounding is llama.cpp's arithmetic). None for every other model."""
    import json

    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    rope = {**(config.get("rope_scaling") or {}), **(config.get("rope_parameters") or {})}
    if config.get("model_type") != "gpt_oss" or (rope.get("rope_type") or rope.get("type")) != "yarn":
        return None
    if rope.get("truncate", True):
        return None
    from transformers import AutoConfig

    loaded = AutoConfig.from_pretrained(model_dir)
    attribute = "rope_parameters" if isinstance(getattr(loaded, "rope_parameters", None), dict) else "rope_scaling"
    setattr(loaded, attribute, {**getattr(loaded, attribute), "truncate": True})  # transformers 5, or older
    return loaded
