"""A conformance kit for plugins: check every component a plugin registers against its protocol.

In a plugin's own tests::

    from toolset.testing import assert_plugin_conforms
    import my_plugin

    def test_conformance():
        assert_plugin_conforms(my_plugin)

or parametrize over :func:`plugin_components` and call :func:`assert_conforms` per component.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs
import pluggy

from toolset import hookspecs
from toolset.components import (
    FACTORY_ARITY,
    NAME_RE,
    Availability,
    BackendClient,
    Component,
    ToolCatalog,
    ToolSpec,
    Trainer,
    ValidationReport,
)
from toolset.plugins import HOOK_NAMES, HOOKS, unknown_hooks


def plugin_components(plugin: object) -> list[Component]:
    """What ``plugin`` registers through every ``register_*`` hook, without touching the global manager."""
    manager = pluggy.PluginManager("toolset")
    manager.add_hookspecs(hookspecs)
    manager.register(plugin, name="under-test")
    components: list[Component] = []
    for hook in HOOKS:
        getattr(manager.hook, hook)(register=components.append)
    return components


def check_plugin(plugin: object) -> list[str]:
    """Every problem found in ``plugin``: hook names, wrong registered types, and each component's."""
    problems = list(unknown_hooks(plugin))
    hooks = [name for name in dir(plugin) if name in HOOK_NAMES]
    if not hooks:
        problems.append("implements none of the toolset hooks: " + ", ".join(HOOK_NAMES))
    try:
        components = plugin_components(plugin)
    except Exception as exc:
        return [*problems, f"a register hook raised {type(exc).__name__}: {exc}"]
    problems += [
        f"registered {c!r}, which is not a toolset component" for c in components if not isinstance(c, Component)
    ]
    names: dict[tuple[str, str], int] = {}
    for component in components:
        if isinstance(component, Component):
            key = (component.kind, component.name)
            names[key] = names.get(key, 0) + 1
            problems += [f"{component.kind} {component.name!r}: {p}" for p in check_component(component)]
    problems += [f"{kind} {name!r} is registered {count} times" for (kind, name), count in names.items() if count > 1]
    return problems


def assert_plugin_conforms(plugin: object) -> None:
    problems = check_plugin(plugin)
    assert not problems, "plugin does not conform:\n  " + "\n  ".join(problems)


def assert_conforms(component: Component) -> None:
    problems = check_component(component)
    assert not problems, f"{component.kind} {component.name!r} does not conform:\n  " + "\n  ".join(problems)


def check_component(component: Component) -> list[str]:
    """The common protocol, then the kind's own (tool set catalogs and backend clients are built)."""
    problems = []
    if not isinstance(component.name, str) or not NAME_RE.match(component.name):
        problems.append(f"name {component.name!r} must be lower-case letters, digits, '-', '_' or '.'")
    description = component.description
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        problems.append("description must be one non-empty line")
    elif len(description) > 120:
        problems.append("description is longer than 120 characters")
    if component.config is not None and not attrs.has(component.config):
        problems.append(f"config {component.config!r} is not an attrs class")
    config = None
    if component.config is not None and attrs.has(component.config):
        try:
            config = component.config()
        except TypeError as exc:
            problems.append(f"config class cannot be built with defaults: {exc}")
    if not callable(component.factory):
        return [*problems, "factory is not callable"]
    problems += _check_arity(component)
    if isinstance(component, Trainer):
        problems += _check_trainer_fields(component)
    availability = component.availability()
    if not isinstance(availability, Availability):
        problems.append(f"check() returned {availability!r}, expected an Availability")
    elif not availability.usable and not availability.detail:
        problems.append("an unusable component must say why (Availability.detail)")
    checker = KIND_CHECKS.get(component.kind)
    if checker is not None and not problems and isinstance(availability, Availability) and availability.usable:
        problems += checker(component, config)
    return problems


def _check_arity(component: Component) -> list[str]:
    arity = FACTORY_ARITY.get(component.kind)
    if arity is None:
        return []
    try:
        inspect.signature(component.factory).bind(*([None] * arity))
    except TypeError:
        return [f"factory must accept {arity} positional argument(s) ({component.__doc__.strip()})"]
    except ValueError:  # builtins without a signature
        return []
    return []


def _check_trainer_fields(trainer: Trainer) -> list[str]:
    """What ``toolset pipeline`` reads beside the factory: exporter names and the dry-run ``describe``."""
    problems = []
    for field in ("adapter_exporter", "merge_exporter"):
        name = getattr(trainer, field)
        if name is not None and (not isinstance(name, str) or not NAME_RE.match(name)):
            problems.append(f"{field} {name!r} must be None or an exporter name")
    if trainer.describe is not None:
        if not callable(trainer.describe):
            problems.append("describe is not callable")
        else:
            try:
                inspect.signature(trainer.describe).bind(None, None)
            except TypeError:
                problems.append("describe must accept 2 positional arguments (run_config, config)")
            except ValueError:
                pass
    return problems


def _check_toolset(component: Component, config: Any) -> list[str]:
    catalog = component.factory(config)
    if not isinstance(catalog, ToolCatalog):
        return [f"factory returned {type(catalog).__name__}, expected ToolCatalog"]
    problems = []
    if not catalog.tools:
        problems.append("tool set has no tools")
    for tool in catalog.tools:
        if not isinstance(tool, ToolSpec):
            problems.append(f"{tool!r} is not a ToolSpec")
            continue
        schema = tool.parameters
        if not isinstance(schema, dict) or schema.get("type") != "object":
            problems.append(f"tool {tool.name}: parameters must be a JSON Schema with type 'object'")
            continue
        problems += [f"tool {tool.name}: {p}" for p in _schema_problems(schema)]
    problems += [f"rule {rule!r} is not callable" for rule in catalog.rules if not callable(rule)]
    return problems


def _schema_problems(schema: dict[str, Any]) -> list[str]:
    try:
        import jsonschema
    except ImportError:  # the schema meta-check needs jsonschema (toolset-core[schemas])
        return []
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"invalid JSON Schema: {exc.message}"]
    return []


def _check_backend(component: Component, config: Any) -> list[str]:
    client = component.factory(config)
    if not isinstance(client, BackendClient):
        return [f"factory returned {type(client).__name__}, which lacks chat() and list_models()"]
    signature = inspect.signature(client.chat)
    if "tools" not in signature.parameters:
        return ["chat() must accept a tools argument"]
    return []


def _check_validator(component: Component, config: Any) -> list[str]:
    """No files against the first registered tool set: an empty, clean report."""
    from toolset.plugins import get_registries

    toolsets = [toolset.name for toolset in get_registries().toolsets]
    if not toolsets:
        return []
    report = component.factory([], toolsets[0], config)
    if not isinstance(report, ValidationReport):
        return [f"factory returned {type(report).__name__}, which lacks has_errors and to_json()"]
    if report.has_errors:
        return ["no files at all must not be an error"]
    return []


KIND_CHECKS: dict[str, Callable[[Component, Any], list[str]]] = {
    "toolset": _check_toolset,
    "backend": _check_backend,
    "validator": _check_validator,
}
