"""A small compiled JSON Schema checker for the keywords tool schemas use, with jsonschema's semantics.

:func:`compile_schema` turns a schema into nested closures once; running them is several times faster than
``jsonschema``'s interpreter, and building them takes microseconds (``fastjsonschema`` needed 0.18 s to
compile the 47 Claudesidian schemas, more than the whole validation run). The closures yield
:class:`SchemaError` objects that carry the attributes of ``jsonschema.ValidationError`` the validator reads
(``validator``, ``validator_value``, ``absolute_path``, ``instance``, ``schema``, ``message``, ``context``),
with the same messages, in the same order.

Only a known subset of keywords is compiled: ``type``, ``enum``, ``const``, ``pattern``, ``minLength``,
``maxLength``, ``minimum``, ``maximum``, ``minItems``, ``maxItems``, ``properties``, ``required``,
``additionalProperties`` (a boolean), ``items`` (one schema) and local ``$ref``; annotations are ignored.
A schema that uses anything else makes :func:`compile_schema` return ``None`` and the caller uses
``jsonschema`` for it. ``tests/schemas/test_engine.py`` checks both give the same findings.

:func:`compile_validator` also returns a test, ``test(instance) -> bool``, true exactly when the check yields
no error: plain closures without generators or error objects, about four times faster on valid data, so the
checks run only for instances that fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Check = Callable[[Any, tuple], Iterator["SchemaError"]]
Test = Callable[[Any], bool]
Compiled = tuple[Check, Test]

ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",  # an annotation in draft 2020-12 unless a format checker is asked for
        "contentMediaType",
        "contentEncoding",
    }
)
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


class Unsupported(Exception):
    """The schema uses a keyword this engine does not compile."""


class SchemaError:
    """One failed keyword, shaped like the parts of ``jsonschema.ValidationError`` the validator uses."""

    __slots__ = ("base", "context", "instance", "message", "path", "schema", "validator", "validator_value")

    def __init__(
        self,
        keyword: str,
        value: Any,
        path: tuple,
        instance: Any,
        schema: dict,
        message: str,
        context: list[SchemaError] | None = None,
    ) -> None:
        self.validator = keyword
        self.validator_value = value
        self.path = path
        self.instance = instance
        self.schema = schema
        self.message = message
        self.context = context
        self.base = 0  # length of the parent error's path, for errors inside ``context``

    @property
    def absolute_path(self) -> list:
        return list(self.path)

    @property
    def relative_path(self) -> list:
        return list(self.path[self.base :])

    def __repr__(self) -> str:
        return f"<SchemaError {self.validator} at {list(self.path)}: {self.message}>"


def _equal(one: Any, two: Any) -> bool:
    """Equality without ``True == 1`` (jsonschema's ``equal``)."""
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(k in two and _equal(v, two[k]) for k, v in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    return one == two


def compile_schema(schema: Any) -> Check | None:
    """Closures checking ``schema`` (``None`` when it uses a keyword outside the subset)."""
    compiled = compile_validator(schema)
    return None if compiled is None else compiled[0]


def compile_validator(schema: Any) -> Compiled | None:
    """``(check, test)`` for ``schema``: the errors, and whether there are none (``None``: outside the subset)."""
    try:
        return _Compiler(schema).compile(schema)
    except Unsupported:
        return None


def iter_errors(check: Check, instance: Any) -> Iterator[SchemaError]:
    return check(instance, ())


class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, Compiled] = {}

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise Unsupported(ref)
        node = self.root
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise Unsupported(ref)
        return node

    def compile(self, schema: Any) -> Compiled:
        if schema is True or schema == {}:
            return NOTHING
        if not isinstance(schema, dict):  # the false schema included
            raise Unsupported(repr(schema))
        compiled = [self.keyword(key, value, schema) for key, value in schema.items() if key not in ANNOTATIONS]
        compiled = [pair for pair in compiled if pair is not None]
        if not compiled:
            return NOTHING
        if len(compiled) == 1:
            return compiled[0]
        checks = [check for check, _test in compiled]
        tests = tuple(test for _check, test in compiled)

        def check_all(instance: Any, path: tuple) -> Iterator[SchemaError]:
            for check in checks:
                yield from check(instance, path)

        merged = _object_test(schema, tests)  # the usual object schema: one closure instead of four
        if merged is not None:
            return check_all, merged
        if len(tests) == 2:
            first, second = tests

            def test_all(instance: Any) -> bool:
                return first(instance) and second(instance)
        else:

            def test_all(instance: Any) -> bool:
                for test in tests:  # noqa: SIM110 - a loop is faster than all() over a generator
                    if not test(instance):
                        return False
                return True

        return check_all, test_all

    def keyword(self, key: str, value: Any, schema: dict) -> Compiled | None:
        method = getattr(self, "k_" + key.lstrip("$"), None)
        if method is None:
            raise Unsupported(key)
        return method(value, schema)

    def k_ref(self, ref: Any, schema: dict) -> Compiled:
        if not isinstance(ref, str):
            raise Unsupported("$ref")
        if ref not in self.refs:
            target: list[Compiled] = []
            self.refs[ref] = (  # recursion-safe placeholders
                lambda instance, path: target[0][0](instance, path),
                lambda instance: target[0][1](instance),
            )
            target.append(self.compile(self.resolve(ref)))
            self.refs[ref] = target[0]
        return self.refs[ref]

    def k_type(self, types: Any, schema: dict) -> Compiled:
        names = [types] if isinstance(types, str) else list(types)
        if not all(name in _TYPES for name in names):
            raise Unsupported("type")
        tests = [_TYPES[name] for name in names]
        reprs = ", ".join(repr(name) for name in names)
        test = tests[0] if len(tests) == 1 else (lambda value: any(t(value) for t in tests))

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if not test(instance):
                yield SchemaError("type", types, path, instance, schema, f"{instance!r} is not of type {reprs}")

        return check, test

    def k_enum(self, enums: Any, schema: dict) -> Compiled:
        if not isinstance(enums, list):
            raise Unsupported("enum")
        hashable = all(isinstance(e, str) for e in enums)
        strings = frozenset(enums) if hashable else frozenset()

        def test(instance: Any) -> bool:
            if hashable and isinstance(instance, str):
                return instance in strings
            return any(_equal(each, instance) for each in enums)

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if not test(instance):
                yield SchemaError("enum", enums, path, instance, schema, f"{instance!r} is not one of {enums!r}")

        return check, test

    def k_const(self, const: Any, schema: dict) -> Compiled:
        def test(instance: Any) -> bool:
            return _equal(instance, const)

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if not _equal(instance, const):
                yield SchemaError("const", const, path, instance, schema, f"{const!r} was expected")

        return check, test

    def k_pattern(self, pattern: Any, schema: dict) -> Compiled:
        try:
            search = re.compile(pattern).search
        except (re.error, TypeError):
            raise Unsupported("pattern") from None

        def test(instance: Any) -> bool:
            return not isinstance(instance, str) or search(instance) is not None

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if isinstance(instance, str) and not search(instance):
                yield SchemaError(
                    "pattern", pattern, path, instance, schema, f"{instance!r} does not match {pattern!r}"
                )

        return check, test

    def _bound(self, key: str, limit: Any, schema: dict, kind: type | tuple, fails: Callable, text: str) -> Compiled:
        if not isinstance(limit, int | float) or isinstance(limit, bool):
            raise Unsupported(key)

        def test(instance: Any) -> bool:
            return not (isinstance(instance, kind) and not isinstance(instance, bool) and fails(instance))

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if not test(instance):
                yield SchemaError(key, limit, path, instance, schema, f"{instance!r} {text}")

        return check, test

    def k_minLength(self, n: Any, schema: dict) -> Compiled:
        text = "should be non-empty" if n == 1 else "is too short"
        return self._bound("minLength", n, schema, str, lambda v: len(v) < n, text)

    def k_maxLength(self, n: Any, schema: dict) -> Compiled:
        text = "is expected to be empty" if n == 0 else "is too long"
        return self._bound("maxLength", n, schema, str, lambda v: len(v) > n, text)

    def k_minItems(self, n: Any, schema: dict) -> Compiled:
        text = "should be non-empty" if n == 1 else "is too short"
        return self._bound("minItems", n, schema, list, lambda v: len(v) < n, text)

    def k_maxItems(self, n: Any, schema: dict) -> Compiled:
        text = "is expected to be empty" if n == 0 else "is too long"
        return self._bound("maxItems", n, schema, list, lambda v: len(v) > n, text)

    def k_minimum(self, n: Any, schema: dict) -> Compiled:
        return self._bound("minimum", n, schema, (int, float), lambda v: v < n, f"is less than the minimum of {n!r}")

    def k_maximum(self, n: Any, schema: dict) -> Compiled:
        text = f"is greater than the maximum of {n!r}"
        return self._bound("maximum", n, schema, (int, float), lambda v: v > n, text)

    def k_required(self, required: Any, schema: dict) -> Compiled:
        if not isinstance(required, list):
            raise Unsupported("required")

        def test(instance: Any) -> bool:
            if isinstance(instance, dict):
                for name in required:
                    if name not in instance:
                        return False
            return True

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if isinstance(instance, dict):
                for name in required:
                    if name not in instance:
                        yield SchemaError(
                            "required", required, path, instance, schema, f"{name!r} is a required property"
                        )

        return check, test

    def k_properties(self, properties: Any, schema: dict) -> Compiled:
        if not isinstance(properties, dict):
            raise Unsupported("properties")
        compiled = [(name, self.compile(sub)) for name, sub in properties.items()]
        compiled = [(name, pair) for name, pair in compiled if pair is not NOTHING]
        checks = [(name, check) for name, (check, _test) in compiled]
        tests = [(name, test) for name, (_check, test) in compiled]

        def test(instance: Any) -> bool:
            if isinstance(instance, dict):
                for name, sub in tests:
                    if name in instance and not sub(instance[name]):
                        return False
            return True

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if isinstance(instance, dict):
                for name, sub in checks:
                    if name in instance:
                        yield from sub(instance[name], (*path, name))

        test.property_tests = tests  # type: ignore[attr-defined]  # for _object_test
        return check, test

    def k_additionalProperties(self, allowed: Any, schema: dict) -> Compiled | None:
        if allowed is True or allowed == {}:
            return None
        if allowed is not False or "patternProperties" in schema:
            raise Unsupported("additionalProperties")
        known = frozenset(schema.get("properties", {}))

        def test(instance: Any) -> bool:
            return not isinstance(instance, dict) or known.issuperset(instance)

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if isinstance(instance, dict) and not known.issuperset(instance):
                extras = sorted((key for key in instance if key not in known), key=str)
                listed = ", ".join(repr(extra) for extra in extras)
                verb = "was" if len(extras) == 1 else "were"
                message = f"Additional properties are not allowed ({listed} {verb} unexpected)"
                yield SchemaError("additionalProperties", False, path, instance, schema, message)

        return check, test

    def k_anyOf(self, alternatives: Any, schema: dict) -> Compiled:
        if not isinstance(alternatives, list) or not alternatives:
            raise Unsupported("anyOf")
        compiled = [self.compile(sub) for sub in alternatives]
        checks = [check for check, _test in compiled]
        tests = [test for _check, test in compiled]

        def test(instance: Any) -> bool:
            for sub in tests:  # noqa: SIM110 - a loop is faster than any() over a generator
                if sub(instance):
                    return True
            return False

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            errors: list[SchemaError] = []
            for sub in checks:
                found = list(sub(instance, path))
                if not found:
                    return
                errors += found
            for error in errors:
                error.base = len(path)
            message = f"{instance!r} is not valid under any of the given schemas"
            yield SchemaError("anyOf", alternatives, path, instance, schema, message, errors)

        return check, test

    def k_items(self, items: Any, schema: dict) -> Compiled | None:
        if "prefixItems" in schema or not isinstance(items, dict):
            raise Unsupported("items")
        compiled = self.compile(items)
        if compiled is NOTHING:
            return None
        sub, sub_test = compiled

        def test(instance: Any) -> bool:
            if isinstance(instance, list):
                for item in instance:
                    if not sub_test(item):
                        return False
            return True

        def check(instance: Any, path: tuple) -> Iterator[SchemaError]:
            if isinstance(instance, list):
                for index, item in enumerate(instance):
                    yield from sub(item, (*path, index))

        return check, test


def _object_test(schema: dict, tests: tuple[Test, ...]) -> Test | None:
    """One test for ``{"type": "object", "properties", "required", "additionalProperties": false}`` (any of the
    last three), the conjunction of the keywords' ``tests`` written out; None for any other schema."""
    keywords = [key for key in schema if key not in ANNOTATIONS]
    if schema.get("type") != "object" or not set(keywords) <= {
        "type",
        "properties",
        "required",
        "additionalProperties",
    }:
        return None
    property_tests = [getattr(test, "property_tests", None) for test in tests]
    properties = next((found for found in property_tests if found is not None), [])
    required = schema.get("required", [])
    closed = schema.get("additionalProperties", True) is False
    known = frozenset(schema.get("properties", {}))

    def test(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return False
        for name in required:
            if name not in instance:
                return False
        if closed and not known.issuperset(instance):
            return False
        for name, sub in properties:  # noqa: SIM110 - a loop is faster than all() over a generator
            if name in instance and not sub(instance[name]):
                return False
        return True

    return test


def _nothing(instance: Any, path: tuple) -> Iterator[SchemaError]:
    return iter(())


def _always(instance: Any) -> bool:
    return True


NOTHING: Compiled = (_nothing, _always)


UNRESOLVABLE = (
    "cannot be resolved: toolset fetches nothing and follows only references inside the schema "
    "(such as '#/$defs/NAME'); put the referenced schema under $defs, or inline it"
)


def unresolvable_refs(schema: Any) -> list[tuple[str, str]]:
    """``(path, $ref)`` for each reference that cannot be resolved inside ``schema`` itself: a URL or file
    (nothing is fetched; an ``$id`` embedded in the schema counts as inside) or a local pointer to nothing.
    """
    ids: set[str] = set()
    refs: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key in ("$id", "$anchor"):
                if isinstance(node.get(key), str):
                    ids.add(node[key] if key == "$id" else "#" + node[key])
            if isinstance(node.get("$ref"), str):
                refs.append((path, node["$ref"]))
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(schema, "")
    compiler = _Compiler(schema)
    unresolved = []
    for path, ref in refs:
        if ref in ids or ref.split("#", 1)[0] in ids - {""}:
            continue
        try:
            compiler.resolve(ref)
        except Unsupported:
            unresolved.append((path, ref))
    return unresolved


MAX_DEPTH = 64  # deeper schemas are refused: no tool schema needs them, and checking them recurses that deep
# Keywords that apply a subschema to the same value: following only these and $ref never moves into the value.
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else")


def schema_depth(schema: Any) -> int:
    """How deeply ``schema`` nests mappings and lists (counted without recursion)."""
    deepest, stack = 0, [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def ref_cycle(schema: Any) -> str | None:
    """The ``$ref`` of a reference loop that never moves into the value (``{"$ref": "#"}``, two definitions
    referring to each other through ``allOf``...), which would make any check recurse forever; else None.
    Recursive schemas that descend (a tree whose ``children`` items refer back to the root) are fine."""
    compiler = _Compiler(schema)

    def next_nodes(node: Any) -> list[tuple[Any, str | None]]:
        if not isinstance(node, dict):
            return []
        found: list[tuple[Any, str | None]] = []
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            try:
                found.append((compiler.resolve(ref), ref))
            except Unsupported:
                pass
        for key in _IN_PLACE:
            value = node.get(key)
            found += [(item, None) for item in (value if isinstance(value, list) else [value]) if item is not None]
        return found

    seen: set[int] = set()
    for start in _subschemas(schema):
        if id(start) in seen:
            continue
        path: dict[int, str | None] = {}
        stack: list[tuple[Any, str | None, bool]] = [(start, None, False)]
        while stack:
            node, via, leaving = stack.pop()
            if leaving:
                path.pop(id(node), None)
                continue
            if id(node) in path:
                refs = [*path.values(), via]
                return next((ref for ref in refs if ref), None) or via
            if id(node) in seen:
                continue
            seen.add(id(node))
            path[id(node)] = via
            stack.append((node, via, True))
            stack.extend((child, ref, False) for child, ref in next_nodes(node))
    return None


def _subschemas(schema: Any) -> list[Any]:
    """Every mapping inside ``schema`` (each a possible subschema), found without recursion."""
    found, stack = [], [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def schema_trouble(schema: Any) -> str | None:
    """Why a tool's schema cannot be used safely (too deep, or a reference loop), else None."""
    depth = schema_depth(schema)
    if depth > MAX_DEPTH:
        return f"nested {depth} levels deep; toolset takes schemas of up to {MAX_DEPTH} levels"
    loop = ref_cycle(schema)
    if loop is not None:
        return f"$ref {loop!r} leads back to itself without descending into the value (a check would never end)"
    return None
