"""Built-in exporters: ``adapter`` (copy a LoRA adapter) and ``gguf`` (merged HF folder to a GGUF file)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import attrs

from toolset.components import Availability, Exporter, missing_modules, usable
from toolset.errors import ToolsetError
from toolset.hookspecs import hookimpl
from toolset.publish.local_apps import LMStudioConfig, OllamaConfig, export_lmstudio, export_ollama
from toolset.runs.storage import atomic_directory, atomic_file
from toolset.weights.gguf_export import FLOAT_TYPES, GGUFExportConfig

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "adapters.safetensors")


@attrs.define(kw_only=True)
class AdapterExportConfig:
    """``include_tokenizer``: also copy tokenizer and chat-template files found beside the adapter."""

    include_tokenizer: bool = True
    overwrite: bool = False


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "added_tokens.json",
)


def export_adapter(source: Path, destination: Path, config: AdapterExportConfig | None = None) -> Path:
    """Copy the adapter in ``source`` to ``destination``, all or nothing."""
    config = config or AdapterExportConfig()
    source, destination = Path(source), Path(destination)
    if not source.is_dir():
        raise ToolsetError(f"{source}: adapter folder not found")
    weights = [name for name in ADAPTER_WEIGHTS if (source / name).is_file()]
    if not weights:
        raise ToolsetError(
            f"{source}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)}); is this a run's final_model?"
        )
    if not (source / "adapter_config.json").is_file():
        raise ToolsetError(f"{source}: adapter_config.json is missing")
    names = [*weights, "adapter_config.json"]
    if config.include_tokenizer:
        names += [name for name in TOKENIZER_FILES if (source / name).is_file()]
    with atomic_directory(destination, overwrite=config.overwrite) as staging:
        for name in names:
            shutil.copy2(source / name, staging / name)
    return destination


def export_gguf(source: Path, destination: Path, config: GGUFExportConfig | None = None) -> Path:
    """Write ``destination`` (a .gguf path, or a folder to hold NAME-TYPE.gguf) from a merged HF folder.

    Quantized types are converted to f16 first, then quantized by llama.cpp. Unless ``verify`` is off, the
    file is loaded and compared with the HF model; the outcome is written beside it as ``.verify.json``.
    """
    from toolset.weights.gguf_export import convert, quantize
    from toolset.weights.verify import verify_gguf

    config = config or GGUFExportConfig()
    source, destination = Path(source), Path(destination)
    out_type = config.out_type.lower()
    name = config.name or source.name
    if destination.suffix != ".gguf":
        destination = destination / f"{name}-{out_type}.gguf"
    if destination.exists() and not config.overwrite:
        raise ToolsetError(f"{destination} already exists (set overwrite=true to replace it)")
    if out_type in FLOAT_TYPES:
        convert(source, destination, out_type, name=name)
    else:
        if missing_modules(["llama_cpp"]):
            raise ToolsetError(f'quantizing to {out_type} needs llama-cpp-python: pip install "toolset-core[gguf]"')
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".gguf-f16-", dir=destination.parent) as scratch:
            intermediate = convert(source, Path(scratch) / "model-f16.gguf", "f16", name=name)
            quantize(intermediate, destination, out_type, threads=config.threads)
    if config.verify and not missing_modules(["llama_cpp"]):
        try:
            report = verify_gguf(destination, source, exact=out_type in ("f16", "f32"))
        except ToolsetError:
            destination.unlink(missing_ok=True)  # a file that fails verification must not look complete
            raise
        with atomic_file(destination.with_name(destination.name + ".verify.json")) as handle:
            json.dump(attrs.asdict(report), handle, indent=2)
    return destination


def gguf_availability() -> Availability:
    if missing_modules(["llama_cpp"]):
        return usable('f32/f16/bf16 only: quantization and verification need llama-cpp-python ("toolset-core[gguf]")')
    return usable("f32, f16, bf16 and llama.cpp quantization types, verified with llama.cpp")


@hookimpl
def register_exporters(register):
    register(
        Exporter(
            name="adapter",
            description="Copy a trained LoRA adapter and its tokenizer files to a folder",
            config=AdapterExportConfig,
            factory=export_adapter,
        )
    )
    register(
        Exporter(
            name="gguf",
            description="Merged Hugging Face folder to GGUF (f16, bf16, Q8_0, Q4_K_M, ...), verified with llama.cpp",
            config=GGUFExportConfig,
            factory=export_gguf,
            requires=("gguf", "numpy"),
            check=gguf_availability,
        )
    )
    register(
        Exporter(
            name="ollama",
            description="Ollama Modelfile beside a GGUF file, with a TEMPLATE that keeps tools and tool calls",
            config=OllamaConfig,
            factory=export_ollama,
            requires=("gguf",),
        )
    )
    register(
        Exporter(
            name="lmstudio",
            description="Place a GGUF file in LM Studio's models folder (publisher/model/file.gguf)",
            config=LMStudioConfig,
            factory=export_lmstudio,
        )
    )
