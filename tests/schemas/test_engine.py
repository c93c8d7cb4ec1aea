"""The compiled schema engine gives exactly jsonschema's findings, on valid and on mutated arguments."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from toolset.components import ToolCatalog, ToolSpec
from toolset.data import ToolCall
from toolset_schemas import claudesidian
from toolset_schemas.schema_compiler import compile_schema, compile_validator
from toolset_schemas.validator import Validator

NAMES = [tool.name for tool in claudesidian.catalog().tools]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False, width=16)
    | st.sampled_from(["", "default", "tab", "ws_1731020200000_q5r4s3t2u", "session_1731071640123_d7m2v9c4r"])
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def jsonschema_only(catalog: ToolCatalog, strict: bool = False) -> Validator:
    validator = Validator(catalog, strict=strict)
    validator._compiled = dict.fromkeys(validator._compiled)  # None: every tool goes to jsonschema
    return validator


FAST = Validator(claudesidian.catalog(), strict=True)
SLOW = jsonschema_only(claudesidian.catalog(), strict=True)


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutate(value, path, action, new):
    """Replace, delete or add at ``path`` inside ``value`` (a copy)."""
    value = copy.deepcopy(value)
    if not path:
        return new if action == "replace" else value
    parent = value
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = new
    elif action == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last]["extraKey"] = new
    return value


def same(name, arguments):
    no_errors = not list(FAST._compiled[name](arguments, ()))
    assert FAST._tests[name](arguments) is no_errors  # the quick test agrees with the errors
    fast = [(f.code, f.field, f.severity, f.message) for f in FAST.check_call(ToolCall(name=name, arguments=arguments))]
    slow = [(f.code, f.field, f.severity, f.message) for f in SLOW.check_call(ToolCall(name=name, arguments=arguments))]
    assert fast == slow
    return fast


def test_every_claudesidian_schema_compiles():
    assert all(compile_schema(tool.parameters) is not None for tool in claudesidian.catalog().tools)


@pytest.mark.parametrize("name", NAMES)
def test_same_findings_as_jsonschema(name):
    schema = claudesidian.factory().get(name).parameters  # a copy: hypothesis-jsonschema rewrites it

    @settings(SETTINGS, max_examples=10)
    @given(from_schema(schema), st.data())
    def agree(arguments, data):
        same(name, arguments)
        path = data.draw(st.sampled_from(list(paths(arguments))))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]) if path else st.just("replace"))
        same(name, mutate(arguments, path, action, data.draw(JSON)))

    agree()


SCHEMAS = [
    {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
    {"type": "array", "items": {"type": "string", "maxLength": 2}, "minItems": 1, "maxItems": 2},
    {"const": 1},
    {"enum": [1, True, "a", [1], {"a": None}]},
    {"type": "object", "properties": {"a": {"$ref": "#"}}, "additionalProperties": False},
    {"anyOf": [{"type": "string", "minLength": 3}, {"type": "object", "required": ["x", "y"]}]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_keywords_agree_with_jsonschema_on_any_value(schema):
    from jsonschema import Draft202012Validator

    check = compile_schema(schema)
    assert check is not None
    _check, test = compile_validator(schema)
    reference = Draft202012Validator(schema)

    @SETTINGS
    @given(JSON)
    def agree(value):
        ours = [(e.validator, e.absolute_path, e.message) for e in check(value, ())]
        theirs = [(e.validator, list(e.absolute_path), e.message) for e in reference.iter_errors(value)]
        assert ours == theirs
        assert test(value) is (not theirs)

    agree()


@pytest.mark.parametrize(
    "schema",
    [
        {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
        {"not": {"type": "null"}},
        {"type": "object", "properties": {"a": False}},
    ],
)
def test_other_keywords_fall_back_to_jsonschema(schema):
    assert compile_schema(schema) is None
    catalog = ToolCatalog(name="t", tools=[ToolSpec(name="tool", description="", parameters=schema)])
    validator = Validator(catalog)
    assert validator._compiled["tool"] is None
    validator.check_call(ToolCall(name="tool", arguments={"a": 1, "x1": 2}))
    assert "tool" in validator._jsonschema


def test_missing_required_names_are_reported_once():
    arguments = {"context": {"sessionId": "session_1731071640123_d7m2v9c4r"}}
    fields = [f.field for f in FAST.check_call(ToolCall(name="vaultManager_openNote", arguments=arguments))]
    assert len(fields) == len(set(fields)) == 7  # six context fields and `path`


def test_unresolvable_refs():
    from toolset_schemas.schema_compiler import unresolvable_refs

    inside = {
        "$defs": {"id": {"type": "string"}, "named": {"$anchor": "named"}},
        "properties": {
            "a": {"$ref": "#/$defs/id"},
            "b": {"$ref": "#named"},
            "c": {"$ref": "#"},
            "d": {"items": [{"$ref": "#/properties/a"}]},
            "e": {"$id": "https://e.x/inner", "type": "string"},
            "f": {"$ref": "https://e.x/inner"},
        },
    }
    assert unresolvable_refs(inside) == []
    outside = {
        "properties": {"a": {"$ref": "https://e.x/s.json"}, "b": {"anyOf": [{"$ref": "#/$defs/missing"}]}},
        "items": {"$ref": "#nowhere"},
    }
    assert unresolvable_refs(outside) == [
        (".properties.a", "https://e.x/s.json"),
        (".properties.b.anyOf[0]", "#/$defs/missing"),
        (".items", "#nowhere"),
    ]
