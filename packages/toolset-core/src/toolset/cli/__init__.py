"""The ``toolset`` command line. Plugins add subcommands through ``register_commands(cli)``.

Subcommands are added when first looked up: ``toolset validate`` imports only the plugins that declare the
``validate`` command (see :mod:`toolset.plugins`); listing them (``toolset --help``) imports every plugin.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from toolset.errors import ToolsetError


class ToolsetGroup(click.Group):
    """Adds plugin commands lazily; shows a :class:`ToolsetError` as ``Error: message`` (exit 1), never as a
    traceback. With ``report_plugin_errors`` set (the ``toolset`` script), plugin load errors go to stderr."""

    report_plugin_errors = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            from toolset.plugins import add_commands

            add_commands(self, command=cmd_name)
            if cmd_name not in self.commands:  # perhaps from a plugin that did not declare it
                add_commands(self)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        from toolset.plugins import add_commands

        add_commands(self)
        return super().list_commands(ctx)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            name, command, rest = super().resolve_command(ctx, args)
        except click.UsageError as error:
            why = _why_missing(args[0] if args else "")
            raise click.UsageError(f"{error.message.rstrip('.')}{why}." if why else error.message, ctx) from None
        if self.report_plugin_errors and name != "plugins":
            report_plugin_errors()
        return name, command, rest

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["toolset.argv"] = list(args)  # the command line as typed, for an unexpected error's message
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ToolsetError as exc:
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("toolset: interrupted", err=True)
            raise click.exceptions.Exit(130) from None  # 128 + SIGINT, as shells expect
        except Exception as exc:
            if debugging():
                raise
            raise Crash(crash_message(ctx, exc)) from None


class Crash(click.ClickException):
    """An unexpected exception, shown as one line with where its traceback went (exit 2, not 1: 1 means the
    data or the model has findings)."""

    exit_code = 2


def debugging() -> bool:
    """``--debug`` or ``TOOLSET_DEBUG=1``: unexpected exceptions print their traceback."""
    import os

    return os.environ.get("TOOLSET_DEBUG", "") not in ("", "0")


def crash_message(ctx: click.Context, exc: BaseException) -> str:
    """One line naming the command, its arguments and the exception, plus the log file holding the traceback."""
    import shlex
    import time
    import traceback

    from toolset.weights.models import cache_dir

    command = shlex.join(["toolset", *ctx.meta.get("toolset.argv", [])])
    detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    log = cache_dir() / "logs" / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"{command}\n\n{''.join(traceback.format_exception(exc))}", encoding="utf-8")
        where = f"the traceback is in {log}"
    except OSError as error:
        where = f"the traceback could not be written to {log} ({error.strerror})"
    return (
        f"unexpected error in `{command}`: {detail}\n{where}; run again with --debug (or TOOLSET_DEBUG=1) to "
        "print it. Please report it: it is a bug in toolset, not in your data."
    )


def _why_missing(name: str) -> str:
    """Why command ``name`` is missing when the environment filters out the plugin that provides it."""
    from toolset.plugins.candidates import left_out

    for plugin, distribution, variable, commands in left_out():
        if name in commands:
            return f": it comes from plugin {plugin} ({distribution}), which {variable} leaves out"
    return ""


def report_filter_typos() -> None:
    """Say so when TOOLSET_LOAD_PLUGINS / TOOLSET_DISABLE_PLUGINS name no installed plugin (imports no plugin)."""
    import os

    if not (os.environ.get("TOOLSET_LOAD_PLUGINS") or os.environ.get("TOOLSET_DISABLE_PLUGINS")):
        return
    from toolset.plugins.candidates import unknown_filter_names

    for variable, names in unknown_filter_names().items():
        click.echo(f"toolset: {variable} names {', '.join(sorted(names))}, which no installed plugin is", err=True)


def report_plugin_errors() -> None:
    """Print the plugin errors recorded since the last call to stderr (imports nothing)."""
    plugins = sys.modules.get("toolset.plugins")
    if plugins is None:  # no plugin was loaded (toolset --version)
        return
    for name, error in plugins.new_errors():
        click.echo(f"toolset: plugin {name}: {error} (see `toolset plugins`)", err=True)


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from toolset import __version__

        click.echo(f"toolset, version {__version__}")
        ctx.exit()


@click.group(cls=ToolsetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
@click.option("--debug", is_flag=True, help="Print the traceback of an unexpected error (also TOOLSET_DEBUG=1).")
def cli(debug: bool) -> None:
    """Fine-tune small local models to call an MCP tool set reliably, and prove it with numbers."""
    if debug:
        import os

        os.environ["TOOLSET_DEBUG"] = "1"


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List plugins: distribution, version, what each registers and load errors."""
    import json

    import attrs

    from toolset.plugins import add_commands, plugin_infos

    add_commands(click.get_current_context().find_root().command)
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
    import json

    from toolset.cli import diagnosis as doctor_module

    report = doctor_module.gather(output_dir)
    click.echo(json.dumps(report, indent=2) if as_json else doctor_module.render(report))


def _printable_streams() -> None:
    """Text that cannot be encoded (a lone surrogate from a JSON escape in a user's data) prints as an escape
    instead of stopping a report half-way with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``toolset`` script."""
    args = sys.argv[1:] if argv is None else argv
    _printable_streams()
    report_filter_typos()
    cli.report_plugin_errors = True
    try:
        cli.main(args=args, prog_name="toolset")
    finally:
        cli.report_plugin_errors = False
        if args[:1] != ["plugins"]:
            report_plugin_errors()  # errors of plugins imported, or hooks called, while the command ran


if __name__ == "__main__":
    main()
