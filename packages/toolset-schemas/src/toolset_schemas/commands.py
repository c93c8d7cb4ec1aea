"""Click commands: ``toolset validate``, ``toolset coverage`` and ``toolset schemas import-mcp``.

``validate`` and ``coverage`` exit 2 when they could not run (a missing file, an unknown tool set or
format, an unreadable file), with a one-line message on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from toolset.errors import ToolsetError

T = TypeVar("T")
COULD_NOT_RUN = 2


def _run(work: Callable[[], T]) -> T:
    """``work()``, or exit 2 with ``Error: …`` on stderr when the input cannot be read."""
    try:
        return work()
    except (ToolsetError, OSError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(COULD_NOT_RUN) from None


@click.command(name="validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--toolset", "toolset_name", default="claudesidian", show_default=True, help="Tool set to check against.")
@click.option("--format", "fmt", default="auto", show_default=True, help="Input format given to the reader.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--strict", is_flag=True, help="Parameters a tool does not declare are errors, not warnings.")
@click.option("--show-expected", is_flag=True, help="List the findings of KTO label=false lines too.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal and the input is 4 MiB or more).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes per file (default: one per CPU, at most 4, and per MiB of the file; 1: this one only).",
)
def validate_command(
    files: tuple[Path, ...],
    toolset_name: str,
    fmt: str,
    as_json: bool,
    strict: bool,
    show_expected: bool,
    progress: bool | None,
    jobs: int | None,
) -> None:
    """Check the tool calls in FILES (or folders of .jsonl and .json files) against a tool set's schemas and rules.

    Exits 0 when clean, 1 if any error is found, 2 if it could not run. KTO lines labelled false are meant
    to be wrong: their findings are counted apart and never fail the run.
    """
    from toolset_schemas.validator import render, validate_files

    report = _run(
        lambda: validate_files(
            list(files), toolset=toolset_name, format=fmt, strict=strict, progress=progress, jobs=jobs
        )
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in render(report, show_expected=show_expected):
            click.echo(line)
    if report.has_errors:
        raise SystemExit(1)


@click.command(name="coverage")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--toolset", "toolset_name", default="claudesidian", show_default=True, help="Tool set to compare with.")
@click.option("--format", "fmt", default="auto", show_default=True, help="Input format given to the reader.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a bar chart of calls per tool (PNG).")
def coverage_command(files: tuple[Path, ...], toolset_name: str, fmt: str, as_json: bool, plot: Path | None) -> None:
    """Calls per tool and per agent in FILES (desirable vs undesirable), tools with no examples, names outside
    the tool set, examples without calls and multi-call examples. Exits 0, or 2 if it could not run.
    """
    from toolset_schemas import coverage as coverage_module

    if plot is not None:  # before the report: a bad --plot must not fail after the whole report printed
        _run(lambda: coverage_module.check_plot_path(plot))
    result = _run(lambda: coverage_module.coverage_files(list(files), toolset=toolset_name, format=fmt))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        for line in coverage_module.render(result):
            click.echo(line)
    if plot is not None:
        written = _run(lambda: coverage_module.plot(result, plot))
        click.echo(f"wrote {written}", err=as_json)


@click.group(name="schemas")
def schemas_group() -> None:
    """Tool-set schemas: import MCP tool lists as tool sets."""


@schemas_group.command(name="import-mcp")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", help="Tool set name (default: the file name without extension).")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Folder of user tool sets (default: $TOOLSET_TOOLSETS_DIR or ~/.config/toolset/toolsets).",
)
@click.option("--force", is_flag=True, help="Replace an existing tool set of the same name.")
def import_mcp_command(file: Path, name: str | None, output: Path | None, force: bool) -> None:
    """Turn an MCP tools/list result (FILE, JSON) into a tool set usable by name, without code."""
    from toolset_schemas.user_toolsets import import_mcp, load_catalog, toolsets_dir

    folder = import_mcp(file, name, output, force=force)
    catalog = load_catalog(folder)
    click.echo(f"wrote tool set {catalog.name} ({len(catalog.tools)} tools) to {folder}")
    if output is not None and output.resolve() != toolsets_dir().resolve():
        click.echo(f"note: it is registered only when TOOLSET_TOOLSETS_DIR={output}")
    else:
        click.echo(f"try: toolset toolsets show {catalog.name}")
