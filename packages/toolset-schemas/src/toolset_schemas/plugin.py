"""The toolset plugin of toolset-schemas (entry point group ``toolset``).

Registers the ``claudesidian`` tool set, every user tool set imported with ``toolset schemas import-mcp``,
and the ``validate``, ``coverage`` and ``schemas`` commands. Schemas are read only when a tool set's factory is called.
"""

from __future__ import annotations

from toolset import hookimpl
from toolset.components import Toolset


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
def register_commands(cli):
    from toolset_schemas.commands import coverage_command, schemas_group, validate_command

    cli.add_command(validate_command)
    cli.add_command(coverage_command)
    cli.add_command(schemas_group)
