"""Exporters of toolset-cuda: ``lora`` (the adapter alone), ``merged-16bit`` and ``merged-4bit`` (bitsandbytes).

``source`` is a run directory or its ``final_model``; the base model is the one named in ``toolset.json``
(written by the trainer) or in the adapter's ``adapter_config.json``. Every folder is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import attrs

from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_directory, check_free_space
from toolset.weights import chat_templates


@attrs.define(kw_only=True)
class LoraExportConfig:
    overwrite: bool = False


@attrs.define(kw_only=True)
class MergedExportConfig:
    """``dtype``: the merged weights' type (``auto``: the base model's, float16 when that was float32)."""

    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    base_model: str | None = None
    overwrite: bool = False


def adapter_dir(source: Path) -> Path:
    source = Path(source)
    for candidate in (source, source / "final_model"):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise ToolsetError(f"{source}: no LoRA adapter here (expected adapter_config.json, or a run's final_model/)")


def base_model_dir(adapter: Path, override: str | None = None) -> Path:
    if override:
        path = Path(override)
        if not path.is_dir():
            raise ToolsetError(f"base_model {override}: folder not found")
        return path
    info = adapter / "toolset.json"
    if info.is_file():
        folder = json.loads(info.read_text()).get("base_model_dir")
        if folder and Path(folder).is_dir():
            return Path(folder)
    named = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if named and Path(named).is_dir():
        return Path(named)
    raise ToolsetError(
        f"{adapter}: the base model ({named}) is not a local folder here: set base_model=PATH "
        "(a Hugging Face folder of the model the adapter was trained on)"
    )


def export_lora(source: Path, destination: Path, config: LoraExportConfig | None = None) -> Path:
    """Copy the adapter, tokenizer and toolset.json of a run."""
    from toolset.builtins.exporters import AdapterExportConfig, export_adapter

    config = config or LoraExportConfig()
    return export_adapter(adapter_dir(source), destination, AdapterExportConfig(overwrite=config.overwrite))


def merge(
    source: Path, *, dtype: str = "auto", base_model: str | None = None, quantization: Any = None
) -> tuple[Any, Any]:
    """Base + adapter, merged: (model, tokenizer)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = adapter_dir(source)
    base = base_model_dir(adapter, base_model)
    config = json.loads((base / "config.json").read_text())
    stored = config.get("dtype") or config.get("torch_dtype") or "float32"
    if dtype == "auto":
        dtype = "float16" if stored == "float32" else stored
    extra: dict[str, Any] = {}
    if (config.get("quantization_config") or {}).get("quant_method") == "mxfp4":
        from transformers import Mxfp4Config

        extra["quantization_config"] = Mxfp4Config(dequantize=True)  # gpt-oss: write 16-bit experts, not MXFP4
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=getattr(torch, dtype), **extra)
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter if (adapter / "tokenizer_config.json").exists() else base))
    if isinstance(tokenizer.chat_template, str):  # inference engines (llama.cpp, Ollama) lack {% generation %}
        tokenizer.chat_template = chat_templates.without_generation_markers(tokenizer.chat_template)
    return model, tokenizer


def export_merged_16bit(source: Path, destination: Path, config: MergedExportConfig | None = None) -> Path:
    config = config or MergedExportConfig()
    if config.dtype == "float32":
        raise ToolsetError("merged-16bit writes float16 or bfloat16 (use dtype=float16|bfloat16|auto)")
    model, tokenizer = merge(source, dtype=config.dtype, base_model=config.base_model)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    check_free_space(Path(destination).parent, int(size * 1.1), "the merged model")
    with atomic_directory(Path(destination), overwrite=config.overwrite) as staging:
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
    return Path(destination)


def export_merged_4bit(source: Path, destination: Path, config: MergedExportConfig | None = None) -> Path:
    from toolset_cuda.engine import cuda_available

    if not cuda_available():
        raise ToolsetError("merged-4bit quantizes with bitsandbytes, which needs a CUDA GPU: use merged-16bit here")
    try:
        from transformers import BitsAndBytesConfig
    except ImportError as exc:  # pragma: no cover - transformers always has it
        raise ToolsetError(f"bitsandbytes support missing: {exc}") from None
    import torch

    config = config or MergedExportConfig()
    merged = Path(destination).with_name(Path(destination).name + ".merged-16bit")
    export_merged_16bit(source, merged, attrs.evolve(config, overwrite=True))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
    )
    model = AutoModelForCausalLM.from_pretrained(str(merged), quantization_config=quantization, device_map="auto")
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    with atomic_directory(Path(destination), overwrite=config.overwrite) as staging:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
    import shutil

    shutil.rmtree(merged, ignore_errors=True)
    return Path(destination)
