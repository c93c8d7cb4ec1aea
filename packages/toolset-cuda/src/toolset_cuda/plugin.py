"""The toolset plugin of toolset-cuda (entry point group ``toolset``): trainers (``sft``, ``kto``) and exporters.

Nothing heavy is imported here: torch, transformers, TRL and PEFT load when a factory or command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from toolset import hookimpl
from toolset.components import Availability, Exporter, Trainer, missing_modules, unusable, usable
from toolset.config import KtoConfig, RunConfig, SftConfig
from toolset_cuda.exporters import LoraExportConfig, MergedExportConfig

TRAINING_MODULES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


def _trainer(method: str):
    def factory(
        run_config: RunConfig,
        run_dir: Path | None,
        config: Any = None,
        *,
        parent: Path | None = None,
        resume: bool = False,
        echo: Callable[[str], None] = print,
    ) -> Path:
        from toolset_cuda.engine import prime

        run_config = _with_settings(run_config, method, config)
        prime(run_config)
        from toolset_cuda import training

        run_dir = Path(run_dir) if run_dir is not None else None  # None: OUTPUT_DIR/RUN_ID
        result = training.train(method, run_config, run_dir=run_dir, parent=parent, resume=resume, echo=echo)
        return result.final_model

    factory.__name__ = f"train_{method}"
    return factory


def _describe(method: str):
    def describe(run_config: RunConfig, config: Any = None) -> list[str]:
        from toolset_cuda.engine import prime

        run_config = _with_settings(run_config, method, config)
        prime(run_config)
        from toolset_cuda import training

        plan = training.plan_run(method, run_config)
        return [*training.describe(plan), "first example, as the model sees it:", plan.data.example]

    describe.__name__ = f"describe_{method}"
    return describe


def _with_settings(run_config: RunConfig, method: str, config: Any) -> RunConfig:
    """The run config with ``train.METHOD`` (the trainer's section) replaced by the settings it was handed."""
    if config is None:
        return run_config
    return attrs.evolve(run_config, train=attrs.evolve(run_config.train, **{method: config}))


def training_availability() -> Availability:
    """Which engine would train here, and why."""
    from toolset_cuda.engine import choose_engine

    return usable(choose_engine(RunConfig())[1])


def merged_4bit_availability() -> Availability:
    missing = missing_modules(["bitsandbytes"])
    if missing:
        return unusable('needs bitsandbytes and a CUDA GPU: pip install "toolset-cuda[unsloth]" on a GPU machine')
    from toolset_cuda.engine import cuda_available

    return usable() if cuda_available() else unusable("needs a CUDA GPU (bitsandbytes 4-bit)")


def _export(name: str):
    def factory(source: Path, destination: Path, config: Any = None) -> Path:
        from toolset_cuda import exporters

        return getattr(exporters, f"export_{name}")(Path(source), Path(destination), config)

    factory.__name__ = f"export_{name}"
    return factory


@hookimpl
def register_trainers(register):
    register(
        Trainer(
            name="sft",
            description="Supervised fine-tuning with LoRA under TRL (Unsloth 4-bit on CUDA, transformers + PEFT else)",
            config=SftConfig,
            factory=_trainer("sft"),
            requires=TRAINING_MODULES,
            check=training_availability,
            adapter_exporter="lora",
            merge_exporter="merged-16bit",
            describe=_describe("sft"),
            section="sft",
        )
    )
    register(
        Trainer(
            name="kto",
            description="KTO refinement on desirable/undesirable examples under TRL, continuing the SFT adapter",
            config=KtoConfig,
            factory=_trainer("kto"),
            requires=TRAINING_MODULES,
            check=training_availability,
            adapter_exporter="lora",
            merge_exporter="merged-16bit",
            describe=_describe("kto"),
            section="kto",
        )
    )


@hookimpl
def register_exporters(register):
    register(
        Exporter(
            name="lora",
            description="The trained LoRA adapter alone, with its tokenizer and chat template",
            config=LoraExportConfig,
            factory=_export("lora"),
        )
    )
    register(
        Exporter(
            name="merged-16bit",
            description="Base model + adapter merged into one float16/bfloat16 Hugging Face folder",
            config=MergedExportConfig,
            factory=_export("merged_16bit"),
            requires=("torch", "transformers", "peft"),
        )
    )
    register(
        Exporter(
            name="merged-4bit",
            description="Merged model quantized to 4-bit with bitsandbytes (CUDA only)",
            config=MergedExportConfig,
            factory=_export("merged_4bit"),
            requires=("torch", "transformers", "peft"),
            check=merged_4bit_availability,
        )
    )
