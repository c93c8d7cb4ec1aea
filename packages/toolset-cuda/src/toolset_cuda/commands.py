"""CLI: ``toolset train sft|kto CONFIG`` (``toolset pipeline`` is toolset-core's, training through the trainers)."""

from __future__ import annotations

from pathlib import Path

import click

from toolset.cli_options import config_argument, num_processes_option, preset_option, run_dir_option, set_option
from toolset.config import load_run_config
from toolset.errors import ToolsetError
from toolset.launch import launched

resume_option = click.option("--resume", is_flag=True, help="Continue from the latest checkpoint.")
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Load config, data and tokenizer, print examples, counts, steps and memory; stop."
)


def _relaunch(num_processes: int) -> int:
    """Run this same command under ``accelerate launch`` with ``num_processes`` processes."""
    from toolset.launch import relaunch
    from toolset_cuda.engine import cuda_available

    return relaunch(num_processes, main_process_port=not cuda_available())


def _echo(line: str) -> None:
    click.echo(line)


@click.command(name="train")
@click.argument("method", type=click.Choice(["sft", "kto"]))
@config_argument
@preset_option("tiny, 3b, 7b, 13b, 20b")
@set_option
@resume_option
@dry_run_option
@run_dir_option()
@click.option("--parent", type=click.Path(path_type=Path), help="An SFT run whose adapter KTO continues.")
@num_processes_option
def train_command(
    method: str,
    config_file: Path | None,
    preset: str | None,
    overrides: tuple[str, ...],
    resume: bool,
    dry_run: bool,
    run_dir: Path | None,
    parent: Path | None,
    num_processes: int,
) -> None:
    """Train with SFT or KTO (TRL; Unsloth on CUDA, transformers + PEFT elsewhere)."""
    config = load_run_config(config_file, preset, overrides)
    if num_processes > 1 and not launched():
        if run_dir is None and config.run_id is None:
            raise ToolsetError("--num-processes needs a fixed run folder: give --run-dir or set run_id")
        raise SystemExit(_relaunch(num_processes))
    from toolset_cuda.engine import prime

    prime(config)
    from toolset_cuda import training

    plan = training.plan_run(method, config, echo=_echo)
    if dry_run:
        for line in training.describe(plan):
            click.echo(line)
        click.echo("first example, as the model sees it:")
        click.echo(plan.data.example)
        return
    result = training.train(method, config, run_dir=run_dir, parent=parent, resume=resume, echo=_echo, plan=plan)
    if training.rank() == 0:
        click.echo(f"final model: {result.final_model}")
