"""Click arguments and options that the commands of toolset-core and its plugins share (one spelling, one
type, one help text each): ``CONFIG``, ``--preset``, ``--set``, ``--run-dir`` and ``--num-processes``.
"""

from __future__ import annotations

from pathlib import Path

import click

config_argument = click.argument("config_file", metavar="CONFIG", required=False, type=click.Path(path_type=Path))
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a value, e.g. lora.r=32."
)
num_processes_option = click.option(
    "--num-processes", type=click.IntRange(1), default=1, show_default=True, help="Processes (accelerate launch, DDP)."
)


def preset_option(examples: str = "tiny, 3b, 7b, 13b, 20b, mac-7b, ...") -> click.Option:
    """``--preset NAME``; ``examples`` are the presets worth naming for this command."""
    return click.option("--preset", help=f"Start from this preset ({examples}).")


def run_dir_option(what: str = "Run folder") -> click.Option:
    """``--run-dir PATH``, defaulting to OUTPUT_DIR/RUN_ID of the config."""
    return click.option("--run-dir", type=click.Path(path_type=Path), help=f"{what} (default: OUTPUT_DIR/RUN_ID).")
