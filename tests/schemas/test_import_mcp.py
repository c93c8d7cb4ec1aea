"""`toolset schemas import-mcp`: MCP tools/list results become tool sets registered by name."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from toolset.testing import assert_plugin_conforms
from toolset_schemas.user_toolsets import ImportMcpError, import_mcp, load_catalog, user_toolsets

TOOLS = {
    "tools": [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "inputSchema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "units": {"enum": ["metric", "imperial"]}},
                "required": ["city"],
            },
        },
        {"name": "ping", "inputSchema": {"type": "object"}},
    ]
}


def write(tmp_path, data, name="weather.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def cli():
    from toolset.cli import cli as group
    from toolset.plugins import add_commands

    add_commands(group)
    return group


def test_import_writes_a_folder_the_plugin_registers(tmp_path, user_dir):
    folder = import_mcp(write(tmp_path, TOOLS))
    assert folder == user_dir / "weather"
    catalog = load_catalog(folder)
    assert catalog.names == ["get_weather", "ping"]
    assert catalog.get("get_weather").parameters["required"] == ["city"]
    assert [t.name for t in user_toolsets()] == ["weather"]
    import toolset_schemas.plugin

    assert_plugin_conforms(toolset_schemas.plugin)


def test_bare_list_and_json_rpc_response(tmp_path, user_dir):
    import_mcp(write(tmp_path, TOOLS["tools"], "bare.json"), "bare")
    import_mcp(write(tmp_path, {"jsonrpc": "2.0", "id": 1, "result": TOOLS}, "rpc.json"), "rpc")
    assert [t.name for t in user_toolsets()] == ["bare", "rpc"]


def test_toolsets_show_and_validate_find_the_import(tmp_path, user_dir, fresh_plugins):
    runner = CliRunner()
    group = cli()
    result = runner.invoke(group, ["schemas", "import-mcp", str(write(tmp_path, TOOLS)), "--name", "wx"])
    assert result.exit_code == 0, result.output
    assert "wrote tool set wx (2 tools)" in result.output
    fresh_plugins.reset()
    shown = runner.invoke(cli(), ["toolsets", "show", "wx"])
    assert shown.exit_code == 0, shown.output
    assert "get_weather" in shown.output and "required: city" in shown.output


def test_validator_uses_an_imported_tool_set(tmp_path, user_dir):
    from toolset.data import Conversation, Message, ToolCall
    from toolset_schemas.validator import Validator

    validator = Validator(load_catalog(import_mcp(write(tmp_path, TOOLS))))
    calls = [ToolCall(name="get_weather", arguments={"units": "kelvin"}), ToolCall(name="pong")]
    result = validator.check_conversation(Conversation(messages=[Message(role="assistant", tool_calls=calls)]))
    assert sorted(f.code for f in result.findings) == ["bad-enum", "missing-required", "unknown-tool"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "weather.json:1:2: not valid JSON"),
        ({"tools": []}, "the tool list is empty"),
        ({"tools": [{"inputSchema": {"type": "object"}}]}, "tools[0].name: every tool needs a non-empty string name"),
        ({"tools": [{"name": "a"}]}, "tools[0] (a).inputSchema: missing"),
        ({"tools": [{"name": "a", "inputSchema": {"type": "string"}}]}, 'inputSchema.type: must be "object"'),
        (
            {"tools": [{"name": "a", "inputSchema": {"type": "object", "properties": {"x": {"type": "text"}}}}]},
            "tools[0] (a).inputSchema.properties.x.type: not a valid JSON Schema",
        ),
        ({"tools": [{"name": "a", "inputSchema": {"type": "object"}}] * 2}, "'a' appears twice"),
        (
            {
                "tools": [
                    {"name": "a", "inputSchema": {"type": "object", "properties": {"x": {"$ref": "https://e.x/s"}}}}
                ]
            },
            "tools[0] (a).inputSchema.properties.x.$ref: 'https://e.x/s' cannot be resolved: toolset fetches nothing",
        ),
        (
            {"tools": [{"name": "a", "inputSchema": {"type": "object", "items": {"$ref": "#/$defs/gone"}}}]},
            "tools[0] (a).inputSchema.items.$ref: '#/$defs/gone' cannot be resolved",
        ),
        ({"tool": []}, 'expected {"tools": [...]} or a list of tools'),
    ],
)
def test_clear_errors(tmp_path, user_dir, data, message):
    with pytest.raises(ImportMcpError) as error:
        import_mcp(write(tmp_path, data))
    assert message in str(error.value)
    assert not (user_dir / "weather").exists()


def test_names_and_overwrite(tmp_path, user_dir):
    source = write(tmp_path, TOOLS)
    with pytest.raises(ImportMcpError, match="built-in"):
        import_mcp(source, "claudesidian")
    with pytest.raises(ImportMcpError, match="lower-case"):
        import_mcp(source, "Bad Name")
    import_mcp(source)
    with pytest.raises(ImportMcpError, match="--force"):
        import_mcp(source)
    assert import_mcp(source, force=True) == user_dir / "weather"
    with pytest.raises(ImportMcpError, match="no such file"):
        import_mcp(tmp_path / "missing.json")


def test_output_option_and_cli_error_without_traceback(tmp_path, user_dir):
    runner = CliRunner()
    out = tmp_path / "elsewhere"
    result = runner.invoke(cli(), ["schemas", "import-mcp", str(write(tmp_path, TOOLS)), "--output", str(out)])
    assert result.exit_code == 0 and (out / "weather" / "toolset.json").is_file()
    assert "TOOLSET_TOOLSETS_DIR" in result.output
    bad = runner.invoke(cli(), ["schemas", "import-mcp", str(tmp_path / "nope.json")])
    assert bad.exit_code == 1 and "nope.json: no such file" in bad.output
    assert "Traceback" not in bad.output


def test_a_broken_user_tool_set_is_unusable_with_a_reason(user_dir):
    (user_dir / "broken").mkdir(parents=True)
    (user_dir / "broken" / "toolset.json").write_text("{")
    (toolset,) = user_toolsets()
    availability = toolset.availability()
    assert not availability.usable and "toolset.json: cannot read" in availability.detail


def test_a_hand_written_tool_set_with_an_external_ref_is_a_clear_error(tmp_path, user_dir, fresh_plugins):
    folder = user_dir / "remote"
    folder.mkdir(parents=True)
    schema = {"type": "object", "properties": {"x": {"$ref": "other.json#/x"}, "y": {"not": {"type": "null"}}}}
    (folder / "toolset.json").write_text(json.dumps({"tools": [{"name": "a", "parameters": schema}]}))
    data = write(tmp_path, json.dumps({"messages": [{"role": "user", "content": "hi"}]}), name="d.jsonl")
    result = CliRunner().invoke(cli(), ["validate", str(data), "--toolset", "remote"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "tool set remote, tool a: parameters.properties.x.$ref 'other.json#/x' cannot be resolved" in result.output


def _deep(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "$ref": "#"}, "$ref '#' leads back to itself without descending into the value"),
        (
            {
                "type": "object",
                "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}},
                "properties": {"x": {"$ref": "#/$defs/a"}},
            },
            "leads back to itself",
        ),
        (_deep(100), "nested 201 levels deep; toolset takes schemas of up to 64 levels"),
    ],
)
def test_reference_loops_and_deep_schemas_are_refused_at_import(tmp_path, user_dir, schema, message):
    with pytest.raises(ImportMcpError) as error:
        import_mcp(write(tmp_path, {"tools": [{"name": "a", "inputSchema": schema}]}))
    assert "tools[0] (a).inputSchema: " in str(error.value) and message in str(error.value)


def test_a_recursive_schema_that_descends_is_fine(tmp_path, user_dir):
    tree = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
    }
    folder = import_mcp(write(tmp_path, {"tools": [{"name": "tree", "inputSchema": tree}]}))
    assert load_catalog(folder).get("tree") is not None


def test_a_looping_tool_set_written_before_the_check_is_one_line_in_validate(tmp_path, user_dir, fresh_plugins):
    folder = user_dir / "looping"
    folder.mkdir(parents=True)
    (folder / "toolset.json").write_text(json.dumps({"tools": [{"name": "a", "parameters": {"$ref": "#"}}]}))
    data = write(tmp_path, json.dumps({"messages": [{"role": "user", "content": "hi"}]}), name="d.jsonl")
    result = CliRunner().invoke(cli(), ["validate", str(data), "--toolset", "looping"])
    assert result.exit_code != 0 and "Traceback" not in result.output and "RecursionError" not in result.output
    assert "tool a: $ref '#' leads back to itself" in result.output, result.output
