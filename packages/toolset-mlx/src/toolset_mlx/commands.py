"""CLI: ``toolset mlx train CONFIG [--stage N|NAME|all] [--test PROMPT] [--resume-adapter DIR]``."""

from __future__ import annotations

from pathlib import Path

import click

from toolset.cli.options import config_argument, preset_option, run_dir_option, set_option


@click.group(name="mlx")
def mlx_group() -> None:
    """MLX LoRA/DoRA training with mlx-lm (Apple Silicon; mlx[cpu] elsewhere)."""


@mlx_group.command(name="train")
@config_argument
@preset_option("mac-7b, mac-coder-16gb, tiny, ...")
@set_option
@click.option("--stage", default="all", show_default=True, help="Stage to run: its 1-based number, name, or all.")
@click.option("--test", "test_prompts", multiple=True, metavar="PROMPT", help="Answer PROMPT after each stage.")
@click.option("--resume-adapter", type=click.Path(path_type=Path), help="Start from the adapters in this folder.")
@run_dir_option()
@click.option(
    "--lr-schedule",
    type=click.Choice(["constant", "cosine"]),
    help="Learning-rate schedule of each stage (default: train.mlx.lr_schedule, constant).",
)
@click.option(
    "--warmup-steps",
    type=click.IntRange(0),
    help="Linear warm-up steps of each stage (default: train.mlx.warmup_steps, 0).",
)
def train_command(
    config_file: Path | None,
    preset: str | None,
    overrides: tuple[str, ...],
    stage: str,
    test_prompts: tuple[str, ...],
    resume_adapter: Path | None,
    run_dir: Path | None,
    lr_schedule: str | None,
    warmup_steps: int | None,
) -> None:
    """Train the stages of CONFIG's train.mlx curriculum; each starts from the previous stage's adapters.

    An alias of `toolset train mlx-lora CONFIG` with the curriculum's own options (--stage, --test...)."""
    from toolset.config import load_run_config
    from toolset_mlx.trainer import MlxTrainOptions, train_mlx

    config = load_run_config(config_file, preset, overrides, example="mac-7b")
    options = MlxTrainOptions(
        stage=stage,
        resume_adapter=str(resume_adapter) if resume_adapter else None,
        test_prompts=list(test_prompts),
        lr_schedule=lr_schedule,
        warmup_steps=warmup_steps,
    )
    final = train_mlx(config, run_dir, options, echo=click.echo)
    click.echo(f"final model: {final}")
    click.echo(f"next: toolset export mlx-fuse {final} {final.parent / 'fused'}")
