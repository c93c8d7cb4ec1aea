"""The toolset plugin of toolset-mlx: the ``mlx-lora`` trainer and the ``mlx-fuse`` exporter."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import attrs

from toolset import Availability, Exporter, Trainer, hookimpl
from toolset.components import usable
from toolset.config import MlxConfig


def mlx_availability() -> Availability:
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return usable("Apple Silicon: MLX trains on the GPU with unified memory")
    return usable("MLX on the CPU (mlx[cpu]): works, slowly; MLX is fast on Apple Silicon")


@attrs.define(kw_only=True)
class FuseConfig:
    """``base_model``: the folder the adapters were trained on (default: read from adapter_config.json)."""

    base_model: str | None = None
    overwrite: bool = False


def export_fused(source: Path, destination: Path, config: FuseConfig | None = None) -> Path:
    """Fuse the adapters in SOURCE into their base model; write a Hugging Face folder to DESTINATION."""
    import json

    from toolset.errors import ToolsetError
    from toolset_mlx.lora import fuse

    config = config or FuseConfig()
    base = config.base_model
    if base is None:
        settings = Path(source) / "adapter_config.json"
        if not settings.is_file():
            raise ToolsetError(f"{source}: adapter_config.json not found (an mlx-lora final_model is expected)")
        base = json.loads(settings.read_text()).get("model")
    return fuse(Path(base), Path(source), Path(destination), overwrite=config.overwrite)


def _with_settings(run_config, config):
    """The run config with ``train.mlx`` (the trainer's section) replaced by the settings it was handed."""
    if config is None:
        return run_config
    return attrs.evolve(run_config, train=attrs.evolve(run_config.train, mlx=config))


def _train(run_config, run_dir, config=None, *, parent=None, resume=False, echo=print):
    """The trainer's factory (``toolset train mlx-lora``, ``toolset pipeline``): ``config`` is ``train.mlx``;
    ``parent`` (an earlier mlx-lora stage) gives the adapters to start from; ``resume`` skips the curriculum
    stages that finished in ``run_dir``."""
    from toolset_mlx.trainer import train_mlx

    return train_mlx(_with_settings(run_config, config), run_dir, parent=parent, resume=resume, echo=echo)


def _describe(run_config, config=None):
    from toolset_mlx.trainer import describe

    return describe(_with_settings(run_config, config))


@hookimpl
def register_trainers(register):
    register(
        Trainer(
            name="mlx-lora",
            description="LoRA/DoRA with mlx-lm in staged curricula (Apple Silicon; CPU elsewhere)",
            config=MlxConfig,
            factory=_train,
            requires=("mlx.core", "mlx_lm"),
            check=mlx_availability,
            adapter_exporter="adapter",
            merge_exporter="mlx-fuse",
            describe=_describe,
            section="mlx",
        )
    )


@hookimpl
def register_exporters(register):
    register(
        Exporter(
            name="mlx-fuse",
            description="Fuse mlx-lora adapters into the base model as a Hugging Face folder (then: gguf)",
            config=FuseConfig,
            factory=export_fused,
            requires=("mlx.core", "mlx_lm"),
            check=mlx_availability,
        )
    )


@hookimpl
def register_commands(cli):
    from toolset_mlx.commands import mlx_group

    cli.add_command(mlx_group)
