"""The ``mlx-lora`` trainer: staged LoRA/DoRA curricula on Apple Silicon (the CPU elsewhere) with mlx-lm.

Each stage lists its datasets, iterations and learning rate and starts from the previous stage's adapters
(or ``resume_adapter``). Data goes through the same ``sft`` formatter as the CUDA trainers. The run directory
and metrics rows are toolset's shared layout (``toolset.runs``).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import attrs

from toolset.config import MlxStageConfig, RunConfig
from toolset.errors import ToolsetError
from toolset.runs import MetricsLog, plot_loss, prepare_run
from toolset.storage import atomic_directory
from toolset_mlx.lora import ADAPTER_FILE, load_model, train_adapter

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


@attrs.define(kw_only=True)
class MlxTrainOptions:
    """``stage``: ``all``, a stage name or its 1-based number; ``test_prompts`` run after each stage."""

    stage: str = "all"
    resume_adapter: str | None = None
    test_prompts: list[str] = attrs.Factory(list)
    max_test_tokens: int = 64


def stages_of(config: RunConfig) -> list[MlxStageConfig]:
    mlx = config.train.mlx
    if mlx.stages:
        return list(mlx.stages)
    return [
        MlxStageConfig(
            name="main", datasets=list(config.dataset.sft), iterations=mlx.iterations, learning_rate=mlx.learning_rate
        )
    ]


def select_stages(stages: list[MlxStageConfig], wanted: str) -> list[int]:
    """Indexes of the stages to run: all, one by name, or one by 1-based number."""
    if wanted == "all":
        return list(range(len(stages)))
    names = [stage.name for stage in stages]
    if wanted in names:
        return [names.index(wanted)]
    if wanted.isdigit() and 1 <= int(wanted) <= len(stages):
        return [int(wanted) - 1]
    raise ToolsetError(f"unknown stage {wanted!r}; stages: {', '.join(names)} (or 1..{len(stages)}, or all)")


def model_folder(config: RunConfig) -> Path:
    path = Path(config.model.name).expanduser()
    if path.is_dir():
        return path
    from toolset.models import local_model_dir

    return local_model_dir(config.model)


def stage_rows(config: RunConfig, stage: MlxStageConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read the stage's files, format them like the CUDA trainers do, and split off a seeded eval share."""
    from toolset import get_formatter
    from toolset.readers import read_conversations

    if not stage.datasets:
        raise ToolsetError(f"stage {stage.name} has no datasets (train.mlx.stages[].datasets or dataset.sft)")
    conversations = []
    for path in stage.datasets:
        if not Path(path).is_file():
            raise ToolsetError(f"stage {stage.name}: dataset {path} not found")
        conversations += [c for c in read_conversations(path, format=config.dataset.format) if c.label is not False]
    formatter = get_formatter("sft")
    settings = formatter.default_config()
    if settings is not None and hasattr(settings, "tool_call_style"):
        settings = attrs.evolve(settings, tool_call_style=config.dataset.tool_call_style)
    rows = list(formatter.factory(conversations, settings))
    random.Random(config.dataset.seed).shuffle(rows)
    held_out = int(len(rows) * config.dataset.eval_fraction)
    return rows[held_out:], rows[:held_out]


def train_mlx(config: RunConfig, run_dir: Path | None, options: MlxTrainOptions | None = None) -> Path:
    """Run the selected stages; returns ``final_model`` (the last stage's adapters and the tokenizer)."""
    options = options or MlxTrainOptions()
    stages = stages_of(config)
    chosen = select_stages(stages, options.stage)
    model_path = model_folder(config)
    datasets = sorted({path for index in chosen for path in stages[index].datasets})
    run_dir = prepare_run(config, run_dir=run_dir, datasets=datasets, method="mlx-lora")
    metrics = MetricsLog(run_dir)
    previous: Path | None = Path(options.resume_adapter) if options.resume_adapter else None
    if previous is None and chosen[0] > 0:
        earlier = run_dir / "stages" / stages[chosen[0] - 1].name
        previous = earlier if (earlier / ADAPTER_FILE).is_file() else None
    for index in chosen:
        stage = stages[index]
        train_rows, valid_rows = stage_rows(config, stage)
        counts = f"{len(train_rows)} rows, {stage.iterations} iterations"
        print(f"[mlx-lora] stage {index + 1}/{len(stages)} {stage.name}: {counts}")
        previous = train_adapter(
            model_path,
            train_rows,
            valid_rows,
            run_dir / "stages" / stage.name,
            lora=config.lora,
            mlx=config.train.mlx,
            iterations=stage.iterations,
            learning_rate=stage.learning_rate,
            max_seq_length=config.model.max_seq_length,
            stage=stage.name,
            resume_from=previous,
            seed=config.train.seed,
            emit=metrics.write,
        )
        if options.test_prompts:
            test_stage(model_path, previous, stage.name, options, run_dir)
    with atomic_directory(run_dir / "final_model", overwrite=True) as staging:
        for name in (ADAPTER_FILE, "adapter_config.json"):
            shutil.copy2(previous / name, staging / name)
        for name in TOKENIZER_FILES:
            if (model_path / name).is_file():
                shutil.copy2(model_path / name, staging / name)
    plot_loss(run_dir)
    return run_dir / "final_model"


def test_stage(model_path: Path, adapter: Path, stage: str, options: MlxTrainOptions, run_dir: Path) -> None:
    """Generate an answer to each test prompt with the stage's adapters; log to ``logs/test_STAGE.jsonl``."""
    from mlx_lm import generate

    model, tokenizer = load_model(model_path, adapter_path=adapter)
    path = run_dir / "logs" / f"test_{stage}.jsonl"
    with open(path, "a", encoding="utf-8") as handle:
        for prompt in options.test_prompts:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            answer = generate(model, tokenizer, prompt=text, max_tokens=options.max_test_tokens, verbose=False)
            handle.write(json.dumps({"stage": stage, "prompt": prompt, "answer": answer}) + "\n")
            print(f"[mlx-lora] {stage} test: {prompt!r} -> {answer[:200]!r}")
