"""Click commands: ``toolset validate`` and ``toolset schemas import-mcp``."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command(name="validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--toolset", "toolset_name", default="claudesidian", show_default=True, help="Tool set to check against.")
@click.option("--format", "fmt", default="auto", show_default=True, help="Input format given to the reader.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--strict", is_flag=True, help="Parameters a tool does not declare are errors, not warnings.")
@click.option("--show-expected", is_flag=True, help="List the findings of KTO label=false lines too.")
def validate_command(
    files: tuple[Path, ...], toolset_name: str, fmt: str, as_json: bool, strict: bool, show_expected: bool
) -> None:
    """Check the tool calls in FILES (or folders of .jsonl files) against a tool set's schemas and rules.

    Exits 1 if any error is found. KTO lines labelled false are meant to be wrong: their findings are
    counted apart and never fail the run.
    """
    from toolset_schemas.validator import render, validate_files

    report = validate_files(list(files), toolset=toolset_name, format=fmt, strict=strict)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in render(report, show_expected=show_expected):
            click.echo(line)
    if report.has_errors:
        raise SystemExit(1)


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
