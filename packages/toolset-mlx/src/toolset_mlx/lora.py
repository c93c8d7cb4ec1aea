"""LoRA/DoRA training and fusing through mlx-lm's Python API (never its CLI).

``train_adapter`` trains one stage on rows in mlx-lm's chat format (``{"messages": [...], "tools": [...]}``, the
same rows the ``sft`` formatter gives the CUDA trainers) and writes ``adapters.safetensors`` and an
``adapter_config.json`` that mlx-lm's own loaders read. ``fuse`` folds the adapters into a full model in
Hugging Face layout, ready for the core ``gguf`` exporter. mlx and mlx_lm are imported inside the functions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toolset.config import LoraConfig, MlxConfig
from toolset.errors import ToolsetError
from toolset.storage import atomic_directory, atomic_file

ADAPTER_FILE = "adapters.safetensors"


def model_overrides(model_path: Path) -> dict[str, Any]:
    """Config values mlx-lm needs but a transformers-5 config keeps elsewhere (``rope_parameters``)."""
    config_file = Path(model_path) / "config.json"
    if not config_file.is_file():
        return {}
    config = json.loads(config_file.read_text())
    rope = config.get("rope_parameters") or {}
    if "rope_theta" not in config and "rope_theta" in rope:
        return {"rope_theta": rope["rope_theta"]}
    return {}


def load_model(model_path: Path | str, adapter_path: Path | None = None, chat_template: str | None = None):
    """Load a local Hugging Face folder with mlx-lm (and, optionally, trained adapters)."""
    from mlx_lm.utils import load

    path = Path(model_path)
    if not (path / "config.json").is_file():
        raise ToolsetError(f"{path}: not a local model folder (config.json missing); MLX runs need local weights")
    model, tokenizer = load(
        str(path),
        model_config=model_overrides(path),
        adapter_path=str(adapter_path) if adapter_path else None,
    )
    if chat_template:
        tokenizer._tokenizer.chat_template = chat_template
    return model, tokenizer


def adapter_config(model_path: Path, lora: LoraConfig, mlx: MlxConfig) -> dict[str, Any]:
    return {
        "model": str(model_path),
        "fine_tune_type": mlx.fine_tune_type,
        "num_layers": mlx.num_layers,
        "lora_parameters": {"rank": lora.r, "scale": mlx.scale, "dropout": lora.dropout},
    }


class _Reporter:
    """mlx-lm's training callback, turned into toolset's metrics rows."""

    def __init__(self, emit: Callable[[dict[str, Any]], None], stage: str, batch_size: int) -> None:
        self.emit, self.stage, self.batch_size = emit, stage, batch_size

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        self.emit(
            {
                "stage": self.stage,
                "step": info["iteration"],
                "loss": round(float(info["train_loss"]), 6),
                "lr": float(info["learning_rate"]),
                "tokens_per_s": round(float(info["tokens_per_second"]), 2),
                "samples_per_s": round(float(info["iterations_per_second"]) * self.batch_size, 3),
                "trained_tokens": int(info["trained_tokens"]),
                "peak_memory_gb": round(float(info["peak_memory"]), 3),
                "time": time.time(),
            }
        )

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        self.emit({"stage": self.stage, "step": info["iteration"], "eval_loss": round(float(info["val_loss"]), 6)})


def train_adapter(
    model_path: Path,
    train_rows: Sequence[dict[str, Any]],
    valid_rows: Sequence[dict[str, Any]],
    destination: Path,
    *,
    lora: LoraConfig,
    mlx: MlxConfig,
    iterations: int,
    learning_rate: float,
    max_seq_length: int,
    stage: str = "main",
    resume_from: Path | None = None,
    chat_template: str | None = None,
    seed: int = 0,
    emit: Callable[[dict[str, Any]], None] = lambda row: None,
) -> Path:
    """Train one stage; ``destination`` (adapters + config) appears only when the stage completed."""
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm.tuner.datasets import CacheDataset, ChatDataset
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    if len(train_rows) < mlx.batch_size:
        raise ToolsetError(
            f"stage {stage}: {len(train_rows)} training rows, fewer than batch_size {mlx.batch_size}; "
            "lower train.mlx.batch_size or add data"
        )
    mx.random.seed(seed)
    model, tokenizer = load_model(model_path, chat_template=chat_template)
    model.freeze()
    config = adapter_config(model_path, lora, mlx)
    linear_to_lora_layers(model, mlx.num_layers, config["lora_parameters"], use_dora=mlx.fine_tune_type == "dora")
    if resume_from is not None:
        weights = Path(resume_from) / ADAPTER_FILE
        if not weights.is_file():
            raise ToolsetError(f"{resume_from}: no {ADAPTER_FILE} to resume from")
        model.load_weights(str(weights), strict=False)
    model.train()
    with atomic_directory(destination, overwrite=True) as staging:
        with atomic_file(staging / "adapter_config.json") as handle:
            json.dump(config, handle, indent=2)
        args = TrainingArgs(
            batch_size=mlx.batch_size,
            iters=iterations,
            val_batches=-1 if valid_rows else 0,
            steps_per_report=max(1, min(10, iterations // 4 or 1)),
            steps_per_eval=mlx.steps_per_eval if valid_rows else iterations + 1,
            steps_per_save=iterations + 1,
            max_seq_length=max_seq_length,
            adapter_file=str(staging / ADAPTER_FILE),
            grad_checkpoint=mlx.grad_checkpoint,
        )
        train_set = CacheDataset(ChatDataset(list(train_rows), tokenizer, mask_prompt=mlx.mask_prompt))
        valid_set = (
            CacheDataset(ChatDataset(list(valid_rows), tokenizer, mask_prompt=mlx.mask_prompt)) if valid_rows else None
        )
        train(
            model,
            optim.Adam(learning_rate=learning_rate),
            train_set,
            valid_set,
            args=args,
            training_callback=_Reporter(emit, stage, mlx.batch_size),
        )
    return destination


def fuse(model_path: Path, adapter_dir: Path, destination: Path, *, overwrite: bool = False) -> Path:
    """Fold trained adapters into the base weights; write a Hugging Face-layout folder."""
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import load, save

    if not (Path(adapter_dir) / ADAPTER_FILE).is_file():
        raise ToolsetError(f"{adapter_dir}: no {ADAPTER_FILE} (train first)")
    model, tokenizer, config = load(
        str(model_path), adapter_path=str(adapter_dir), return_config=True, model_config=model_overrides(model_path)
    )
    fused = [(name, module.fuse()) for name, module in model.named_modules() if hasattr(module, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    with atomic_directory(destination, overwrite=overwrite) as staging:
        save(staging, str(model_path), model, tokenizer, config, donate_model=False)
    return destination
