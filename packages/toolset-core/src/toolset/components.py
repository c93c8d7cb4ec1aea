"""The typed objects plugins register, and the protocols their callables follow.

Every component has a ``name``, a one-line ``description``, its attrs ``config`` class (or ``None``)
and a ``factory`` callable. ``requires`` lists modules it needs at run time; ``check`` explains, when
called, whether it can run on this machine. Nothing heavy is imported until a factory is called.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def as_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """``tuple(value)`` as a Python function, for attrs converters: attrs parses the signature of a builtin
    such as ``tuple`` slowly (2 ms a field, at import)."""
    return tuple(value)


@attrs.frozen
class Availability:
    """Whether a component can run here; ``detail`` says why not, or which path it takes."""

    usable: bool
    detail: str = ""


def usable(detail: str = "") -> Availability:
    return Availability(True, detail)


def unusable(reason: str) -> Availability:
    return Availability(False, reason)


def missing_modules(modules: Iterable[str]) -> list[str]:
    """Return the modules of ``modules`` that cannot be imported, without importing them."""
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


@attrs.frozen
class Component:
    """Base of every registered thing. ``plugin`` is filled in by the registry."""

    kind: ClassVar[str] = "component"

    name: str
    description: str
    config: type | None
    factory: Callable[..., Any]
    requires: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    check: Callable[[], Availability] | None = None
    plugin: str | None = attrs.field(default=None, eq=False)

    def availability(self) -> Availability:
        """Missing ``requires`` modules first, then the component's own ``check``."""
        missing = missing_modules(self.requires)
        if missing:
            return unusable("missing Python module(s): " + ", ".join(missing))
        if self.check is None:
            return usable()
        try:
            return self.check()
        except Exception as exc:  # a broken probe must not break `toolset doctor`
            return unusable(f"availability check failed: {type(exc).__name__}: {exc}")

    def default_config(self) -> Any:
        return None if self.config is None else self.config()


@attrs.frozen
class Toolset(Component):
    """``factory(config) -> ToolCatalog``: the tools (JSON Schema per tool) and extra rules."""

    kind: ClassVar[str] = "toolset"


@attrs.frozen
class Formatter(Component):
    """``factory(conversations, config) -> Iterable[dict]``: training rows for one method; a result that also
    has ``skipped`` (findings: the conversations left out, and why) gets them reported by ``toolset.data.prepare``."""

    kind: ClassVar[str] = "formatter"


@attrs.frozen
class Trainer(Component):
    """``factory(run_config, run_dir: Path, config) -> Path``: trains and returns the final model dir.

    ``toolset pipeline`` also passes, by keyword and only those the factory's signature names (or all with
    ``**options``): ``parent`` (the previous stage's run dir, or None), ``resume`` (continue an interrupted run
    in ``run_dir``) and ``echo`` (a ``print``-like callable for progress lines). ``describe(run_config, config)``
    returns the lines ``--dry-run`` prints; ``adapter_exporter`` names the exporter that copies the final model's
    adapter and ``merge_exporter`` the one that merges it into a Hugging Face folder (for GGUF); None: the
    trained model offers no such export. ``section`` names the run config's section holding its settings (an
    instance of ``config``): ``sft``, ``kto`` or ``mlx`` (``train.sft``...), or a plugin's own name, read from
    ``train.plugins.NAME``; None: the config class's defaults.
    """

    kind: ClassVar[str] = "trainer"

    adapter_exporter: str | None = "adapter"
    merge_exporter: str | None = None
    describe: Callable[[Any, Any], Iterable[str]] | None = None
    section: str | None = None


@attrs.frozen
class Exporter(Component):
    """``factory(source: Path, destination: Path, config) -> Path``: writes an artefact, returns it."""

    kind: ClassVar[str] = "exporter"


@attrs.frozen
class Backend(Component):
    """``factory(config) -> BackendClient``: a client for an inference server or in-process model."""

    kind: ClassVar[str] = "backend"


@attrs.frozen
class Evaluator(Component):
    """``factory(model, prompt_set: str, config) -> dict``: asks ``model`` every case of ``prompt_set``,
    scores the answers and returns the report's summary (``cases``, ``passed``, ``accuracy``...).

    ``model`` is what its backend loads: a GGUF file for an in-process backend, a served model's name for a
    server. ``config`` is an instance of the evaluator's config class (``toolset.config.EvalConfig`` for
    the built-in ``schema-exact``: backend, tool offer, sampling). The pipeline also passes, by keyword and
    only those the factory's signature names: ``output`` (the folder for records and reports), ``resume``,
    ``tools_trained`` (the offer matching how the model was trained) and ``echo``.
    """

    kind: ClassVar[str] = "evaluator"


@runtime_checkable
class ValidationReport(Protocol):
    """What a validator factory returns."""

    @property
    def has_errors(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...


@attrs.frozen
class Validator(Component):
    """``factory(files: list[Path], toolset: str, config) -> ValidationReport``: checks the tool calls in
    training files against a registered tool set (``has_errors``; ``to_json()`` for the details)."""

    kind: ClassVar[str] = "validator"


COMPONENT_TYPES: tuple[type[Component], ...] = (Toolset, Formatter, Trainer, Exporter, Backend, Evaluator, Validator)

# Example arguments each factory must accept: the conformance kit binds them to its signature.
FACTORY_ARITY: Mapping[str, int] = {
    "toolset": 1,
    "formatter": 2,
    "trainer": 3,
    "exporter": 3,
    "backend": 1,
    "evaluator": 3,
    "validator": 3,
}


@attrs.frozen
class ToolSpec:
    """One tool: its name, description and JSON Schema (draft 2020-12) for the arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@attrs.frozen
class ToolCatalog:
    """What a tool set's factory returns: its tools in order and its extra validation rules.

    A rule is a callable taking ``(call, conversation)`` and yielding findings.
    """

    name: str
    tools: tuple[ToolSpec, ...] = attrs.field(converter=as_tuple)
    rules: tuple[Callable[..., Iterable[Any]], ...] = attrs.field(default=(), converter=as_tuple)

    def __attrs_post_init__(self) -> None:
        names = [tool.name for tool in self.tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tool set {self.name!r} defines {', '.join(duplicates)} twice")

    def get(self, name: str) -> ToolSpec | None:
        return next((tool for tool in self.tools if tool.name == name), None)

    @property
    def names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def to_openai(self) -> list[dict[str, Any]]:
        return [tool.to_openai() for tool in self.tools]


@attrs.frozen
class ChatResponse:
    """A backend's answer: text, native tool calls (``{"name", "arguments"}``) and the raw payload."""

    content: str | None
    tool_calls: list[dict[str, Any]] = attrs.field(factory=list)
    raw: Any = None
    model: str | None = None


@runtime_checkable
class BackendClient(Protocol):
    """What a backend factory returns."""

    def chat(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None, **options: Any
    ) -> ChatResponse: ...

    def list_models(self) -> list[str]: ...
