"""The generated Claudesidian schemas: counts, validity, reproducibility and TypeScript type mapping."""

from __future__ import annotations

import collections
import json
import re
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from toolset.testing import assert_plugin_conforms
from toolset_schemas import claudesidian
from toolset_schemas.typescript import Untyped, context_schema, to_schema

DATA = resources.files("toolset_schemas").joinpath("data", "claudesidian")
AGENT_COUNTS = {
    "vaultManager": 9,
    "contentManager": 9,
    "memoryManager": 12,
    "vaultLibrarian": 4,
    "agentManager": 10,
    "commandManager": 2,
    "get_tools": 1,
}
# Names the upstream SFT data calls that tool_schemas.json does not define (genuine data drift, kept visible).
SFT_NAMES_NOT_IN_SCHEMAS = {
    "agentManager_executeAgent",
    "memoryManager_deleteState",
    "memoryManager_deleteWorkspace",
    "memoryManager_restoreState",
    "memoryManager_updateSessionMetadata",
    "vaultManager_renameFolder",
}


def _generator():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).parents[2] / "packages" / "toolset-schemas" / "scripts" / "generate_claudesidian.py"
    spec = importlib.util.spec_from_file_location("generate_claudesidian", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_47_tools_per_agent():
    catalog = claudesidian.catalog()
    assert len(catalog.tools) == 47
    agents = collections.Counter(name.split("_")[0] if name != "get_tools" else name for name in catalog.names)
    assert dict(agents) == AGENT_COUNTS
    assert claudesidian.manifest()["agents"] == AGENT_COUNTS


def test_every_schema_is_valid_draft_2020_12_and_requires_context():
    shared = json.loads(DATA.joinpath("context.json").read_text())
    for tool in claudesidian.catalog().tools:
        Draft202012Validator.check_schema(tool.parameters)
        assert tool.parameters["required"][0] == "context"
        assert tool.parameters["properties"]["context"] == {"$ref": "#/$defs/context"}
        embedded = tool.parameters["$defs"]["context"]
        assert embedded == {k: v for k, v in shared.items() if not k.startswith("$")}


def test_context_definition():
    schema = context_schema()
    assert schema["required"] == [
        "sessionId",
        "workspaceId",
        "sessionDescription",
        "sessionMemory",
        "toolContext",
        "primaryGoal",
        "subgoal",
    ]
    assert all(schema["properties"][name]["type"] == "string" for name in schema["required"])
    session = re.compile(schema["properties"]["sessionId"]["pattern"])
    workspace = re.compile(schema["properties"]["workspaceId"]["pattern"])
    assert session.match("session_1731071640123_d7m2v9c4r")
    assert not session.match("session_1732868000000_ctx37a")
    assert workspace.match("default") and workspace.match("ws_1731020200000_q5r4s3t2u")
    assert not workspace.match("ws_project_alpha") and not workspace.match("defaults")
    assert schema["properties"]["sessionMemory"]["minLength"] == 1


def test_catalog_is_cached_and_plugin_conforms(user_dir):
    import toolset_schemas.plugin

    assert claudesidian.catalog() is claudesidian.catalog()
    assert len(claudesidian.catalog().rules) == 3
    assert_plugin_conforms(toolset_schemas.plugin)


@pytest.mark.parametrize(
    ("type_text", "expected"),
    [
        ("string", {"type": "string"}),
        ("number", {"type": "number"}),
        ("'asc' | 'desc'", {"type": "string", "enum": ["asc", "desc"]}),
        ("'google'", {"type": "string", "enum": ["google"]}),
        ("string[]", {"type": "array", "items": {"type": "string"}}),
        ("Record<string, any>", {"type": "object"}),
        ("array", {"type": "array"}),
        ("string | number", {"type": ["string", "number"]}),
        ("Array<boolean>", {"type": "array", "items": {"type": "boolean"}}),
    ],
)
def test_typescript_types(type_text, expected):
    assert to_schema(type_text) == expected


def test_typescript_interfaces_and_unions():
    union = to_schema("WorkspaceContext | string")
    assert [part.get("type") for part in union["anyOf"]] == ["object", "string"]
    assert to_schema("ContentOperation[]")["items"]["type"] == "object"
    for untyped in ("any", "SomethingUnknown", "any[]"):
        with pytest.raises(Untyped):
            to_schema(untyped)


def test_committed_data_is_what_the_generator_writes(upstream_data, tmp_path):
    generator = _generator()
    manifest = generator.generate(upstream_data / "tools" / "tool_schemas.json", tmp_path)
    assert manifest["tool_count"] == 47
    written = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in DATA.iterdir() if p.name.endswith(".json"))
    assert written == committed
    for name in written:
        assert (tmp_path / name).read_text() == DATA.joinpath(name).read_text(), name


def test_generator_counts_and_prints_untyped_parameters(tmp_path, capsys):
    source = tmp_path / "tool_schemas.json"
    entry = {
        "tool_name": "demoAgent_run",
        "agent": "demoAgent",
        "mode": "run",
        "parameters": [
            {"name": "payload", "optional": False, "type": "any"},
            {"name": "filter", "optional": True, "type": "MysteryOptions"},
            {"name": "order", "optional": True, "type": "'asc' | 'desc'"},
        ],
        "required_params": ["payload"],
    }
    source.write_text(json.dumps({"demoAgent_run": entry}))
    assert _generator().main([str(source), "--output", str(tmp_path / "out")]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["untyped_count"] == 2
    assert {item["parameter"] for item in manifest["untyped"]} == {"payload", "filter"}
    schema = json.loads((tmp_path / "out" / "demoAgent_run.json").read_text())
    assert schema["properties"]["payload"] == {} and schema["required"] == ["context", "payload"]
    assert "demoAgent_run.filter: MysteryOptions" in capsys.readouterr().out


def test_generator_manifest_lists_the_two_any_parameters():
    untyped = claudesidian.manifest()["untyped"]
    assert {(u["tool"], u["parameter"]) for u in untyped} == {
        ("vaultLibrarian_searchMemory", "toolCallFilters"),
        ("memoryManager_updateWorkspace", "newValue"),
    }


def test_sft_tool_names_are_in_the_tool_set_except_six_known_ones(upstream_data):
    names: collections.Counter[str] = collections.Counter()
    for path in sorted((upstream_data / "Datasets" / "tools_datasets").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                for message in json.loads(line)["conversations"]:
                    names.update(call["function"]["name"] for call in message.get("tool_calls") or [])
    known = set(claudesidian.catalog().names)
    missing = set(names) - known
    # Same <agent>_<mode> naming as the tool set; only the documented drift is absent from it, and it is rare.
    assert all(name.split("_")[0] in AGENT_COUNTS for name in names)
    assert missing == SFT_NAMES_NOT_IN_SCHEMAS
    assert sum(names[n] for n in missing) / sum(names.values()) < 0.01
    assert len(set(names) & known) == 40
