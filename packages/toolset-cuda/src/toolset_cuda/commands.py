"""CLI: ``toolset train sft|kto CONFIG`` and ``toolset pipeline CONFIG``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from toolset.config import RunConfig, load_config
from toolset.errors import ToolsetError

config_argument = click.argument("config_file", metavar="CONFIG", required=False, type=click.Path(path_type=Path))
preset_option = click.option("--preset", help="Start from this preset (tiny, 3b, 7b, 13b, 20b).")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a value.")
resume_option = click.option("--resume", is_flag=True, help="Continue from the latest checkpoint.")
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Load config, data and tokenizer, print examples, counts, steps and memory; stop."
)


def _config(config_file: Path | None, preset: str | None, overrides: tuple[str, ...]) -> RunConfig:
    if config_file is None and preset is None:
        raise ToolsetError("give a CONFIG file or --preset (e.g. --preset tiny)")
    return load_config(config_file, preset=preset, overrides=overrides)


def _relaunch(num_processes: int) -> int:
    """Run this same command under ``accelerate launch`` with ``num_processes`` processes."""
    args = sys.argv[1:]
    cleaned: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--num-processes":
            skip = True
            continue
        if arg.startswith("--num-processes="):
            continue
        cleaned.append(arg)
    from toolset_cuda.engine import cuda_available

    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes)]
    # --multi_gpu selects accelerate's torch.distributed launcher; on a CPU machine the processes then join a
    # gloo group (TrainingArguments.ddp_backend), which is what a CPU-only DDP run needs.
    launcher += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--multi_gpu"]
    if not cuda_available():
        launcher += ["--main_process_port", str(_free_port())]
    command = [*launcher, "-m", "toolset", *cleaned]
    environment = {**os.environ, "TOOLSET_LAUNCHED": "1"}
    return subprocess.call(command, env=environment)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _echo(line: str) -> None:
    click.echo(line)


@click.command(name="train")
@click.argument("method", type=click.Choice(["sft", "kto"]))
@config_argument
@preset_option
@set_option
@resume_option
@dry_run_option
@click.option("--run-dir", type=click.Path(path_type=Path), help="Run folder (default: OUTPUT_DIR/RUN_ID).")
@click.option("--parent", type=click.Path(path_type=Path), help="An SFT run whose adapter KTO continues.")
@click.option("--num-processes", type=int, default=1, show_default=True, help="Processes (accelerate launch, DDP).")
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
    config = _config(config_file, preset, overrides)
    if num_processes > 1 and not os.environ.get("TOOLSET_LAUNCHED"):
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


@click.command(name="pipeline")
@config_argument
@preset_option
@set_option
@resume_option
@dry_run_option
@click.option("--run-dir", type=click.Path(path_type=Path), help="Pipeline folder (default: OUTPUT_DIR/RUN_ID).")
def pipeline_command(
    config_file: Path | None,
    preset: str | None,
    overrides: tuple[str, ...],
    resume: bool,
    dry_run: bool,
    run_dir: Path | None,
) -> None:
    """SFT, then KTO from the SFT adapter, then the export and eval stages the config names."""
    config = _config(config_file, preset, overrides)
    from toolset_cuda.engine import prime

    prime(config)
    from toolset_cuda.pipeline import run_pipeline

    run_pipeline(config, run_dir=run_dir, resume=resume, dry_run=dry_run, echo=_echo)
