"""Built-in exporter ``adapter``: copy a trained LoRA adapter (and its tokenizer) to a destination."""

from __future__ import annotations

import shutil
from pathlib import Path

import attrs

from toolset.components import Exporter
from toolset.errors import ToolsetError
from toolset.hookspecs import hookimpl
from toolset.storage import atomic_directory

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
