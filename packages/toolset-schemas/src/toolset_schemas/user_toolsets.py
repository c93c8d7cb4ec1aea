"""Tool sets defined without code: MCP ``tools/list`` results imported into a user folder.

Each tool set is a folder ``<dir>/<name>/`` holding ``toolset.json``: ``{"name", "description", "source",
"tools": [{"name", "description", "parameters"}]}``. ``<dir>`` is ``$TOOLSET_TOOLSETS_DIR`` or
``$XDG_CONFIG_HOME/toolset/toolsets`` (``~/.config/toolset/toolsets``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from toolset.components import NAME_RE, ToolCatalog, Toolset, ToolSpec, unusable, usable
from toolset.errors import ToolsetError
from toolset_schemas.schema_compiler import UNRESOLVABLE, schema_trouble, unresolvable_refs

FILE_NAME = "toolset.json"
RESERVED = frozenset({"claudesidian"})


class ImportMcpError(ToolsetError):
    """An MCP tools/list file that cannot become a tool set; the message names the file and the tool."""


def toolsets_dir() -> Path:
    """Where user tool sets live."""
    override = os.environ.get("TOOLSET_TOOLSETS_DIR")
    if override:
        return Path(override).expanduser()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "toolset" / "toolsets"


def _mcp_tools(data: Any, source: Path) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("result"), dict):  # a whole JSON-RPC response
        data = data["result"]
    if isinstance(data, dict) and "tools" in data:
        data = data["tools"]
    if not isinstance(data, list):
        raise ImportMcpError(f'{source}: expected {{"tools": [...]}} or a list of tools, found {type(data).__name__}')
    if not data:
        raise ImportMcpError(f"{source}: the tool list is empty")
    return data


def tools_from_mcp(data: Any, source: Path) -> list[ToolSpec]:
    """Check an MCP tool list (names, descriptions, input schemas against the meta-schema) and convert it."""
    from jsonschema import Draft202012Validator, SchemaError
    from jsonschema.validators import validator_for

    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for index, tool in enumerate(_mcp_tools(data, source)):
        where = f"{source}: tools[{index}]"
        if not isinstance(tool, dict):
            raise ImportMcpError(f"{where}: expected an object with name and inputSchema, found {type(tool).__name__}")
        name = tool.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ImportMcpError(f"{where}.name: every tool needs a non-empty string name")
        where = f"{source}: tools[{index}] ({name})"
        if name in seen:
            raise ImportMcpError(f"{where}.name: {name!r} appears twice")
        seen.add(name)
        description = tool.get("description") or ""
        if not isinstance(description, str):
            raise ImportMcpError(f"{where}.description: must be a string")
        schema = tool.get("inputSchema", tool.get("input_schema"))
        if not isinstance(schema, dict):
            raise ImportMcpError(f"{where}.inputSchema: missing, or not a JSON object")
        if schema.get("type") != "object":
            raise ImportMcpError(f'{where}.inputSchema.type: must be "object" (MCP tool inputs are objects)')
        trouble = schema_trouble(schema)
        if trouble:
            raise ImportMcpError(f"{where}.inputSchema: {trouble}")
        validator = validator_for(schema, default=Draft202012Validator)
        try:
            validator.check_schema(schema)
        except SchemaError as exc:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.absolute_path)
            raise ImportMcpError(f"{where}.inputSchema{path}: not a valid JSON Schema: {exc.message}") from None
        for path, ref in unresolvable_refs(schema):
            raise ImportMcpError(f"{where}.inputSchema{path}.$ref: {ref!r} {UNRESOLVABLE}")
        specs.append(ToolSpec(name=name, description=description.strip(), parameters=schema))
    return specs


def import_mcp(source: Path, name: str | None = None, output: Path | None = None, *, force: bool = False) -> Path:
    """Write the tool set read from ``source`` to ``output/<name>/``; return that folder."""
    from toolset.runs.storage import atomic_directory

    if not source.is_file():
        raise ImportMcpError(f"{source}: no such file")
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ImportMcpError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ImportMcpError(f"{source}: nested too deeply to read") from None
    except UnicodeDecodeError as exc:
        raise ImportMcpError(f"{source}: not UTF-8 text ({exc.reason})") from None
    name = name or source.stem.lower().replace(" ", "-")
    if not NAME_RE.match(name):
        raise ImportMcpError(f"tool set name {name!r}: use lower-case letters, digits, '-', '_' or '.' (--name)")
    if name in RESERVED:
        raise ImportMcpError(f"tool set name {name!r} is taken by a built-in tool set; choose another with --name")
    tools = tools_from_mcp(data, source)
    if output is not None and output.exists() and not output.is_dir():
        raise ImportMcpError(f"--output {output}: a file; give the folder that will hold the {name}/ tool set")
    destination = (output or toolsets_dir()) / name
    if destination.exists() and not force:
        raise ImportMcpError(f"{destination} already exists (use --force to replace it)")
    document = {
        "name": name,
        "description": f"Imported from MCP tools/list {source.name} ({len(tools)} tools)",
        "source": str(source),
        "tools": [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools],
    }
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(destination, overwrite=force) as staging:
        (staging / FILE_NAME).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return destination


def load_catalog(folder: Path) -> ToolCatalog:
    """Read a user tool set folder; a broken one raises a :class:`ToolsetError` naming the file."""
    path = folder / FILE_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        tools = [ToolSpec(t["name"], t.get("description", ""), t["parameters"]) for t in document["tools"]]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ToolsetError(f"{path}: cannot read this tool set ({type(exc).__name__}: {exc})") from None
    for tool in tools:  # a folder written before these checks, or edited by hand
        trouble = schema_trouble(tool.parameters)
        if trouble:
            raise ToolsetError(f"{path}: tool {tool.name}: {trouble}; import it again once fixed")
    return ToolCatalog(name=folder.name, tools=tools)


def _description(folder: Path) -> str:
    try:
        text = json.loads((folder / FILE_NAME).read_text(encoding="utf-8")).get("description", "")
    except (OSError, ValueError, AttributeError):
        return "user tool set (unreadable)"
    line = " ".join(str(text).split()) or "user tool set"
    return line if len(line) <= 120 else line[:119] + "…"


def user_toolsets(directory: Path | None = None) -> list[Toolset]:
    """One :class:`Toolset` per folder with a ``toolset.json``; broken ones report why through ``check``."""
    directory = directory or toolsets_dir()
    if not directory.is_dir():
        return []
    found = []
    for folder in sorted(p for p in directory.iterdir() if (p / FILE_NAME).is_file()):
        if not NAME_RE.match(folder.name) or folder.name in RESERVED:
            continue

        def factory(config: object = None, _folder: Path = folder) -> ToolCatalog:
            return load_catalog(_folder)

        def check(_folder: Path = folder):
            try:
                load_catalog(_folder)
            except ToolsetError as exc:
                return unusable(str(exc))
            return usable(str(_folder))

        found.append(
            Toolset(name=folder.name, description=_description(folder), config=None, factory=factory, check=check)
        )
    return found
