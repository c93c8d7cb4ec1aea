"""Generate the Claudesidian tool set's JSON Schemas from upstream ``tool_schemas.json``.

Usage: python generate_claudesidian.py [TOOL_SCHEMAS_JSON] [--output DIR]

Writes ``<agent>_<mode>.json`` per tool (draft 2020-12), ``context.json`` (the shared context object) and
``manifest.json`` (counts, and every parameter whose type could not be expressed) into the package data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from toolset_schemas.typescript import ID_PATTERNS, Untyped, context_schema, to_schema

DEFAULT_SOURCE = Path("/work/shared/upstream-data/tools/tool_schemas.json")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "src" / "toolset_schemas" / "data" / "claudesidian"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def describe(entry: dict[str, Any]) -> str:
    """A one-line tool description from its agent and mode names (upstream has no tool descriptions)."""
    if entry.get("notes"):
        return entry["notes"].split(". ")[0].rstrip(".") + "."
    words = re.sub(r"(?<!^)([A-Z])", r" \1", entry["mode"]).lower()
    return f"{words[:1].upper()}{words[1:]} ({entry['agent']} agent)."


def tool_schema(entry: dict[str, Any], untyped: list[dict[str, str]]) -> dict[str, Any]:
    properties: dict[str, Any] = {"context": {"$ref": "#/$defs/context"}}
    required = ["context"]
    for parameter in entry["parameters"]:
        name = parameter["name"]
        if name == "context":
            continue
        try:
            schema = to_schema(parameter["type"])
        except Untyped:
            schema = {}
            untyped.append({"tool": entry["tool_name"], "parameter": name, "type": parameter["type"]})
        if name in ID_PATTERNS and schema == {"type": "string"}:
            schema["pattern"] = ID_PATTERNS[name]
        if parameter.get("description"):
            schema["description"] = parameter["description"]
        properties[name] = schema
        if not parameter.get("optional") or name in entry.get("required_params", []):
            required.append(name)
    return {
        "$schema": DRAFT,
        "$id": f"claudesidian/{entry['tool_name']}.json",
        "title": entry["tool_name"],
        "description": describe(entry),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "$defs": {"context": context_schema()},
    }


def generate(source: Path, output: Path) -> dict[str, Any]:
    raw = source.read_bytes()
    tools = json.loads(raw)
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("*.json"):
        old.unlink()
    untyped: list[dict[str, str]] = []
    agents: Counter[str] = Counter()
    names = []
    for key, entry in tools.items():
        if key != entry["tool_name"]:
            raise SystemExit(f"{source}: key {key!r} differs from tool_name {entry['tool_name']!r}")
        agents["get_tools" if entry["agent"] == "meta" else entry["agent"]] += 1
        names.append(key)
        write(output / f"{key}.json", tool_schema(entry, untyped))
    write(output / "context.json", {"$schema": DRAFT, "$id": "claudesidian/context.json", **context_schema()})
    manifest = {
        "toolset": "claudesidian",
        "source": "tools/tool_schemas.json (ProfSynapse/Toolset-Training)",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "tool_count": len(names),
        "agents": dict(agents),
        "tools": names,
        "untyped_count": len(untyped),
        "untyped": untyped,
    }
    write(output / "manifest.json", manifest)
    return manifest


def write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: {args.source} is not a file", file=sys.stderr)
        return 1
    manifest = generate(args.source, args.output)
    print(f"wrote {manifest['tool_count']} tools to {args.output}: {manifest['agents']}")
    print(f"{manifest['untyped_count']} parameter(s) left untyped (any value allowed):")
    for item in manifest["untyped"]:
        print(f"  {item['tool']}.{item['parameter']}: {item['type']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
