"""Property tests: arguments generated from a tool's schema pass; mutated ones fail with the right code."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from toolset.data import ToolCall
from toolset_schemas import claudesidian
from toolset_schemas.validator import Validator

from .conftest import conversation

SAMPLE = [
    "vaultManager_createFolder",
    "vaultManager_openNote",
    "contentManager_replaceByLine",
    "memoryManager_listSessions",
    "agentManager_generateImage",
    "vaultLibrarian_searchDirectory",
    "commandManager_executeCommand",
    "get_tools",
]
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALIDATOR = Validator(claudesidian.catalog(), strict=True)


def schema(name):
    return claudesidian.factory().get(name).parameters  # a copy: hypothesis-jsonschema rewrites schemas in place


def check(name, arguments):
    arguments = {"context": arguments.pop("context"), **arguments}  # the rule wants context first
    result = VALIDATOR.check_conversation(conversation(ToolCall(name=name, arguments=arguments), system=None))
    return [f.code for f in result.findings]


@pytest.mark.parametrize("name", SAMPLE)
def test_generated_arguments_are_accepted(name):
    @SETTINGS
    @given(from_schema(schema(name)))
    def accepted(arguments):
        assert check(name, arguments) == []

    accepted()


@pytest.mark.parametrize("name", SAMPLE)
def test_dropping_a_required_key_is_missing_required(name):
    @SETTINGS
    @given(from_schema(schema(name)), st.data())
    def rejected(arguments, data):
        dropped = data.draw(st.sampled_from([k for k in schema(name)["required"] if k != "context"] or ["context"]))
        context = arguments["context"]
        del arguments[dropped]
        arguments = {"context": context, **arguments} if dropped != "context" else arguments
        codes = check(name, arguments) if dropped != "context" else _check_raw(name, arguments)
        assert codes == ["missing-required"]

    rejected()


def _check_raw(name, arguments):
    result = VALIDATOR.check_conversation(conversation(ToolCall(name=name, arguments=arguments), system=None))
    return [f.code for f in result.findings]


ENUMS = [
    (name, key)
    for name in ("vaultManager_openNote", "memoryManager_listSessions", "agentManager_generateImage")
    for key, value in schema(name)["properties"].items()
    if "enum" in value
]


@pytest.mark.parametrize(("name", "key"), ENUMS)
def test_a_value_outside_the_enum_is_bad_enum(name, key):
    @SETTINGS
    @given(from_schema(schema(name)), st.text(min_size=1, max_size=12))
    def rejected(arguments, value):
        if value in schema(name)["properties"][key]["enum"]:
            value += "-x"
        arguments[key] = value
        assert check(name, arguments) == ["bad-enum"]

    rejected()


@SETTINGS
@given(from_schema(schema("vaultManager_openNote")), st.sampled_from([0, "yes", [], {}]))
def test_a_value_of_the_wrong_type_is_wrong_type(arguments, value):
    arguments["focus"] = value
    assert check("vaultManager_openNote", arguments) == ["wrong-type"]


@SETTINGS
@given(from_schema(schema("memoryManager_listStates")), st.from_regex(r"\A[a-z][a-zA-Z]{2,10}\Z"))
def test_an_undeclared_parameter_is_unexpected(arguments, key):
    if key in schema("memoryManager_listStates")["properties"]:
        key += "Extra"
    arguments[key] = True
    assert check("memoryManager_listStates", arguments) == ["unexpected-parameter"]  # strict: an error
