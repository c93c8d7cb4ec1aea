"""The ``toolset`` command line. Plugins add subcommands through ``register_commands(cli)``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import attrs
import click

from toolset import __version__
from toolset.errors import ToolsetError


class ToolsetGroup(click.Group):
    """Shows a :class:`ToolsetError` as ``Error: message`` (exit 1), never as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ToolsetError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=ToolsetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", package_name="toolset-core", prog_name="toolset")
def cli() -> None:
    """Fine-tune small local models to call an MCP tool set reliably, and prove it with numbers."""


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List plugins: distribution, version, what each registers and load errors."""
    from toolset.plugins import plugin_infos

    infos = [attrs.asdict(info) for info in plugin_infos()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    for info in infos:
        origin = f"{info['distribution']} {info['version']}" if info["distribution"] else "registered in-process"
        click.echo(f"{info['name']} ({origin}{', built-in' if info['builtin'] else ''})")
        for kind, names in info["registers"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
        if info["commands"]:
            click.echo(f"  commands: {', '.join(info['commands'])}")
        if not info["registers"] and not info["commands"] and not info["errors"]:
            click.echo("  (registers nothing)")
        for error in info["errors"]:
            click.echo(f"  error: {error}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path),
    default=Path("runs"),
    help="Where runs are written (for free disk).",
)
def doctor(as_json: bool, output_dir: Path) -> None:
    """Check Python, torch and its device, GPU, MLX, llama.cpp, disk, and which components can run here."""
    from toolset import doctor as doctor_module

    report = doctor_module.gather(output_dir)
    click.echo(json.dumps(report, indent=2) if as_json else doctor_module.render(report))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``toolset`` script."""
    from toolset.plugins import add_commands, plugin_infos

    add_commands(cli)
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["plugins"]:
        for info in plugin_infos():
            for error in info.errors:
                click.echo(f"toolset: plugin {info.name}: {error} (see `toolset plugins`)", err=True)
    cli.main(args=args, prog_name="toolset")


if __name__ == "__main__":
    main()
