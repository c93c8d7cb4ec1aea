"""The toolset plugin of toolset-schemas (entry point group ``toolset``).

Registers the ``claudesidian`` tool set, every user tool set imported with ``toolset schemas import-mcp``,
the ``schema`` validator and the ``validate``, ``coverage`` and ``schemas`` commands. Schemas are read only
when a tool set's factory is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from toolset import hookimpl
from toolset.components import Toolset, Validator


@attrs.define(kw_only=True)
class ValidateConfig:
    """``format``: the reader's input format; ``strict``: undeclared parameters are errors; ``jobs``: processes
    per file (None: chosen by size); ``progress``: a bar on stderr (None: on a terminal, for big files)."""

    format: str = "auto"
    strict: bool = False
    jobs: int | None = 1
    progress: bool | None = False


def validate_files(files: list[Path], toolset: str, config: ValidateConfig | None = None) -> Any:
    from toolset_schemas.validator import validate_files

    config = config or ValidateConfig()
    return validate_files(
        [Path(f) for f in files],
        toolset=toolset,
        format=config.format,
        strict=config.strict,
        jobs=config.jobs,
        progress=config.progress,
    )


@hookimpl
def register_toolsets(register):
    from toolset_schemas import claudesidian
    from toolset_schemas.user_toolsets import user_toolsets

    register(
        Toolset(
            name=claudesidian.NAME,
            description=claudesidian.DESCRIPTION,
            config=None,
            factory=claudesidian.factory,
            requires=("jsonschema",),
        )
    )
    for toolset in user_toolsets():
        register(toolset)


@hookimpl
def register_validators(register):
    register(
        Validator(
            name="schema",
            description="Tool calls checked against the tool set's JSON Schemas and rules (KTO label=false apart)",
            config=ValidateConfig,
            factory=validate_files,
            requires=("jsonschema",),
        )
    )


@hookimpl
def register_commands(cli):
    from toolset_schemas.commands import coverage_command, schemas_group, validate_command

    cli.add_command(validate_command)
    cli.add_command(coverage_command)
    cli.add_command(schemas_group)
