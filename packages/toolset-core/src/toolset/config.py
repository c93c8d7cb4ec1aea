"""The run configuration: attrs classes, cattrs structuring, YAML/JSON/TOML files, presets and ``--set``.

Every error names where the value came from (file and line, preset or ``--set``), the key path, the
bad value and the expected type; unknown keys get a did-you-mean.
"""

from __future__ import annotations

import functools
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from toolset.errors import ConfigError, closest

if TYPE_CHECKING:
    import cattrs
    import yaml

Dtype = Literal["auto", "float32", "float16", "bfloat16"]
ToolCallStyle = Literal["native", "hermes", "text"]
DataFormat = Literal["auto", "conversations", "text", "hermes", "mistral", "messages"]


@attrs.define(kw_only=True)
class ModelConfig:
    """The base model and how to load it."""

    name: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    source: Literal["auto", "embedded", "hub", "local"] = "auto"
    revision: str | None = None
    dtype: Dtype = "auto"
    load_in_4bit: bool = False
    max_seq_length: int = 2048
    chat_template: str | None = None
    trust_remote_code: bool = False


@attrs.define(kw_only=True)
class LoraConfig:
    """LoRA adapter shape (PEFT on CUDA/CPU, mlx-lm on Apple Silicon)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = attrs.Factory(
        lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    use_dora: bool = False
    bias: Literal["none", "all", "lora_only"] = "none"
    # adapt only the last N transformer layers (None: all): the backward pass then stops at the first adapted
    # layer, about a third faster on a CPU with the top 10 of SmolLM2's 30; mlx counts its own (train.mlx.num_layers)
    layers: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.gt(0)))


@attrs.define(kw_only=True)
class MethodConfig:
    """Hyperparameters every training method shares."""

    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int | None = None
    per_device_batch_size: int = 2
    gradient_accumulation_steps: int = 4
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    optimizer: str = "adamw_torch"
    gradient_checkpointing: bool = True
    logging_steps: int = 10
    save_steps: int = 100
    save_total_limit: int | None = 2
    eval_steps: int | None = None


@attrs.define(kw_only=True)
class SftConfig(MethodConfig):
    """Supervised fine-tuning: learns the tool-call format."""

    learning_rate: float = 2e-4
    epochs: float = 3.0
    max_grad_norm: float = 1.0
    packing: bool = False


@attrs.define(kw_only=True)
class KtoConfig(MethodConfig):
    """KTO refinement on desirable/undesirable examples; weights default to the label ratio."""

    learning_rate: float = 1e-6
    epochs: float = 1.0
    max_grad_norm: float = 0.5
    beta: float = 0.1
    desirable_weight: float | None = None
    undesirable_weight: float | None = None


@attrs.define(kw_only=True)
class MlxStageConfig:
    """One stage of an MLX LoRA curriculum."""

    name: str
    datasets: list[str] = attrs.Factory(list)
    iterations: int = 100
    learning_rate: float = 1e-5


@attrs.define(kw_only=True)
class MlxConfig:
    """MLX LoRA on Apple Silicon (mlx-lm)."""

    fine_tune_type: Literal["lora", "dora"] = "lora"
    num_layers: int = 16
    batch_size: int = 2
    iterations: int = 600
    learning_rate: float = 1e-5
    scale: float = 20.0
    grad_checkpoint: bool = True
    mask_prompt: bool = True
    steps_per_eval: int = 100
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: to 0 over each stage
    warmup_steps: int = 0  # linear warm-up at the start of each stage
    stages: list[MlxStageConfig] = attrs.Factory(list)


@attrs.define(kw_only=True)
class TrainConfig:
    """Which methods run, in order, and each method's settings."""

    stages: list[str] = attrs.Factory(lambda: ["sft", "kto"])
    seed: int = 42
    device: Literal["auto", "cuda", "cpu", "mps"] = "auto"
    engine: Literal["auto", "unsloth", "transformers"] = "auto"
    report_to: list[str] = attrs.Factory(list)
    sft: SftConfig = attrs.Factory(SftConfig)
    kto: KtoConfig = attrs.Factory(KtoConfig)
    mlx: MlxConfig = attrs.Factory(MlxConfig)
    # settings of plugins' trainers, by the section name each trainer gives (Trainer.section)
    plugins: dict[str, dict[str, Any]] = attrs.Factory(dict)


@attrs.define(kw_only=True)
class DatasetConfig:
    """Training data: files per method, their format, the tool set and the tool-call style."""

    sft: list[str] = attrs.Factory(list)
    kto: list[str] = attrs.Factory(list)
    format: DataFormat = "auto"
    toolset: str = "claudesidian"
    tool_call_style: ToolCallStyle = "native"
    # the tool offer policy; "used" taught SmolLM2 the tool set best in bench/bench_results.py --suite policies
    tools: Literal["conversation", "none", "used", "distractors", "all"] = "used"
    tool_distractors: int = 3
    eval_fraction: float = 0.05
    seed: int = 42
    deduplicate: bool = True
    max_length: int | None = None
    overlength: Literal["drop", "error"] = "drop"
    validate: bool = False  # toolset pipeline: validate the files against the tool set before training


@attrs.define(kw_only=True)
class ExportConfig:
    """Artefacts written after training."""

    formats: list[Literal["adapter", "merged", "gguf"]] = attrs.Factory(lambda: ["adapter", "merged", "gguf"])
    gguf_types: list[str] = attrs.Factory(lambda: ["q8_0"])
    verify: bool = True
    ollama_modelfile: bool = True
    lmstudio_dir: str | None = None
    hub_repo: str | None = None
    hub_private: bool = True


@attrs.define(kw_only=True)
class EvalConfig:
    """Evaluation: evaluator, backend, model, prompt set and sampling."""

    evaluator: str = "schema-exact"
    backend: str = "llamacpp"
    model: str | None = None
    host: str | None = None
    prompt_set: str = "claudesidian-smoke"
    concurrency: int = 4
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    timeout_s: float = 120.0
    retries: int = 3
    seed: int = 42
    limit: int | None = None
    tools: Literal["auto", "all", "expected", "distractors", "none"] = "auto"
    tool_distractors: int = 3
    after_training: bool = False
    baseline: bool = False  # toolset pipeline: also evaluate the untrained model (eval-base/), the same way


@attrs.define(kw_only=True)
class RunConfig:
    """Everything one ``toolset`` run needs."""

    preset: str | None = None
    output_dir: str = "runs"
    run_id: str | None = None
    model: ModelConfig = attrs.Factory(ModelConfig)
    lora: LoraConfig = attrs.Factory(LoraConfig)
    dataset: DatasetConfig = attrs.Factory(DatasetConfig)
    train: TrainConfig = attrs.Factory(TrainConfig)
    export: ExportConfig = attrs.Factory(ExportConfig)
    eval: EvalConfig = attrs.Factory(EvalConfig)


# --- strict structuring -------------------------------------------------------------------------

_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _structure_int(value: Any, _type: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError("not an integer")


def _structure_float(value: Any, _type: type) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None:
        raise ValueError("not a number")
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _is_list(hint: Any) -> bool:
    return typing.get_origin(hint) is list


def _structure_list_factory(converter: Any) -> Any:
    """``list[X]`` fields: a single value is a one-item list (``dataset.sft: data.jsonl``, ``--set
    train.stages=sft``), never split into characters; a mapping is refused."""

    from cattrs.cols import list_structure_factory  # cattrs' own, for its per-item error paths

    def factory(hint: Any) -> Any:
        items = list_structure_factory(hint, converter)

        def structure(value: Any, _type: Any) -> list[Any]:
            if isinstance(value, (str, int, float, bool)):
                value = [value]
            elif not isinstance(value, (list, tuple)):
                raise ValueError(f"not a list (give one item, or several as [a, b]), got {type(value).__name__}")
            return items(value, hint)

        return structure

    return factory


def _structure_bool(value: Any, _type: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise ValueError("not a boolean (use true or false)")


def _structure_str(value: Any, _type: type) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("not a string (quote it)")


def make_converter() -> cattrs.Converter:
    """A cattrs converter that never coerces silently (``"no"`` is not ``True``, ``3.7`` not ``3``)."""
    import cattrs  # here, not at the top: cattrs and yaml are half of `import toolset.config`

    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook_factory(_is_list, _structure_list_factory(converter))
    return converter


converter = functools.cache(make_converter)  # built on first use


# --- provenance-aware loading -------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@attrs.define
class _Layered:
    """The merged raw mapping, plus where each key path came from."""

    data: dict[str, Any] = attrs.Factory(dict)
    origins: dict[Path_, str] = attrs.Factory(dict)

    def merge(self, mapping: Mapping[str, Any], origin_of: Any) -> None:
        _deep_merge(self.data, mapping, (), self.origins, origin_of)

    def origin(self, path: Path_) -> str:
        for end in range(len(path), -1, -1):
            if path[:end] in self.origins:
                return self.origins[path[:end]]
        return "defaults"


def _deep_merge(target: dict, source: Mapping, prefix: Path_, origins: dict, origin_of: Any) -> None:
    for key, value in source.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            origins.setdefault(path, origin_of(path))
            _deep_merge(target[key], value, path, origins, origin_of)
        else:
            target[key] = _plain(value)
            for known in [p for p in origins if p[: len(path)] == path]:
                del origins[known]
            _record_origins(value, path, origins, origin_of)


def _record_origins(value: Any, path: Path_, origins: dict, origin_of: Any) -> None:
    origins[path] = origin_of(path)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _record_origins(item, (*path, key), origins, origin_of)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _record_origins(item, (*path, index), origins, origin_of)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _yaml_lines(text: str) -> dict[Path_, int]:
    """Map each key path of a YAML document to its 1-based line."""
    import yaml

    lines: dict[Path_, int] = {}

    def walk(node: yaml.Node, path: Path_, above: frozenset[int] = frozenset()) -> None:
        if id(node) in above:
            raise ConfigError(f"{_dotted(path)} contains itself (a YAML alias that refers to its own anchor)")
        above = above | {id(node)}
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, key_node.value)
                if child in lines:
                    raise ConfigError(
                        f"line {key_node.start_mark.line + 1}: {_dotted(child)} is given twice (first at line "
                        f"{lines[child]}); YAML keeps only the last: keep one"
                    )
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child, above)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index), above)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def read_config_file(path: str | Path) -> tuple[dict[str, Any], dict[Path_, int]]:
    """Read a YAML, JSON or TOML config; return the mapping and (for YAML) the line of each key."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    suffix = path.suffix.lower()
    lines: dict[Path_, int] = {}
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
        lines = _toml_lines(text) if suffix == ".toml" else _yaml_lines(text)  # JSON reads as YAML for lines
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    cycle = _cycle(data)
    if cycle is not None:
        raise ConfigError(f"{path}: {_dotted(cycle)} contains itself (a YAML alias that refers to its own anchor)")
    return data, lines


def _cycle(data: Any) -> Path_ | None:
    """The key path of a mapping or list that contains itself (``a: &x [*x]``), else None."""
    stack: list[tuple[Any, Path_, frozenset[int]]] = [(data, (), frozenset())]
    while stack:
        item, path, above = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if id(item) in above:
            return path
        inside = above | {id(item)}
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend((value, (*path, key), inside) for key, value in pairs)
    return None


def _toml_lines(text: str) -> dict[Path_, int]:
    """The line of each ``key = value`` of a TOML file, by key path under its ``[table]`` (dotted keys too)."""
    lines: dict[Path_, int] = {}
    table: Path_ = ()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?", stripped)
        if header:
            table = tuple(part.strip().strip("\"'") for part in header.group(1).split("."))
            lines.setdefault(table, number)
            continue
        key = re.match(r"([A-Za-z0-9_.\-\"' ]+?)\s*=", stripped)
        if key and not stripped.startswith("#"):
            lines[(*table, *(part.strip().strip("\"'") for part in key.group(1).split(".")))] = number
    return lines


def preset_names() -> list[str]:
    folder = resources.files("toolset") / "presets"
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def preset_data(name: str) -> dict[str, Any]:
    """The raw mapping of a preset shipped with toolset-core (``tiny``, ``3b``, ``7b``, ``13b``, ``20b``)."""
    import yaml

    names = preset_names()
    if name not in names:
        close = closest(name, names)
        hint = f" Did you mean {close!r}?" if close else ""
        raise ConfigError(f"unknown preset {name!r}.{hint} Presets: {', '.join(names)}")
    text = (resources.files("toolset") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Parse ``a.b=value``; the value is read as a YAML scalar or flow list (``3``, ``true``, ``[a, b]``)."""
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, for example --set lora.r=32")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        if raw.strip()[:1] in ("[", "{"):  # meant as a list or mapping: say why it is not one
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ConfigError(f"--set {text!r}: the value is not a valid YAML list or mapping ({problem})") from None
        value = raw
    return tuple(key.split(".")), value


def _nest(path: Sequence[str], value: Any) -> dict[str, Any]:
    nested: Any = value
    for part in reversed(path):
        nested = {part: nested}
    return nested


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _attrs_class_of(hint: Any) -> type | None:
    """The attrs class inside ``hint`` (``X``, ``X | None``), else None."""
    if isinstance(hint, type) and attrs.has(hint):
        return hint
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    for arg in typing.get_args(hint):
        if isinstance(arg, type) and attrs.has(arg):
            return arg
    return None


def _list_item_class(hint: Any) -> type | None:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (None,)
        return _attrs_class_of(item) if item is not None else None
    return None


def _unknown_keys(cls: type, data: Any, path: Path_) -> Iterable[tuple[Path_, str]]:
    if not isinstance(data, Mapping):
        return
    fields = {field.name: field for field in attrs.fields(cls)}
    for key, value in data.items():
        child = (*path, key)
        if key not in fields:
            close = closest(str(key), fields)
            hint = f"did you mean {_dotted((*path, close))!r}? " if close else ""
            yield child, f"unknown key; {hint}valid keys here: {', '.join(fields)}"
            continue
        hint = _field_type(cls, key)
        nested = _attrs_class_of(hint)
        item_class = _list_item_class(hint)
        if nested is not None and value is not None:
            if not isinstance(value, Mapping):
                yield child, f"{value!r} is not a mapping (expected the {nested.__name__} section)"
            else:
                yield from _unknown_keys(nested, value, child)
        elif item_class is not None and isinstance(value, list):
            for index, item in enumerate(value):
                yield from _unknown_keys(item_class, item, (*child, index))


def _lookup(data: Any, path: Path_) -> Any:
    for part in path:
        if isinstance(part, int) and not isinstance(data, (list, tuple)):
            continue  # a single value given for a list is its item 0
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['([^']*)'\]")


def _parse_cattrs_path(text: str) -> Path_:
    parts: list[str | int] = []
    for name, index, quoted in _PATH_PART.findall(text.removeprefix("$")):
        parts.append(int(index) if index else (name or quoted))
    return tuple(parts)


def _describe_type(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    text = getattr(hint, "__name__", None) or str(hint)
    return text.replace("typing.", "")


def _type_errors(exc: Exception) -> list[tuple[Path_, str]]:
    found: list[tuple[Path_, str]] = []

    def describe(error: BaseException, type_: Any) -> str:
        reason = str(error) or type(error).__name__
        return f"expected {_describe_type(type_)} ({reason})"

    import cattrs

    for message in cattrs.transform_error(exc, format_exception=describe):
        text, _, where = message.rpartition(" @ ")
        found.append((_parse_cattrs_path(where), text))
    return found


# What each setting means in numbers: a field of this name, in any section, must lie in its range; None (unset)
# is always fine. The same name means the same thing in every section.
_AT_LEAST_1 = {
    *("r", "alpha", "layers", "max_seq_length", "max_length", "per_device_batch_size", "max_steps"),
    *("gradient_accumulation_steps", "logging_steps", "save_steps", "save_total_limit", "eval_steps"),
    *("batch_size", "iterations", "steps_per_eval", "concurrency", "max_tokens", "limit"),
}
# learning_rate 0 is allowed: a stage that must leave the adapter as it is (the MLX tests resume with it)
_AT_LEAST_0 = {"tool_distractors", "warmup_steps", "retries", "weight_decay", "temperature", "learning_rate"}
_ABOVE_0 = {"epochs", "max_grad_norm", "beta", "desirable_weight", "undesirable_weight"}
_ABOVE_0 |= {"scale", "timeout_s"}
_FRACTIONS = {"dropout": "[0, 1)", "eval_fraction": "[0, 1)", "warmup_ratio": "[0, 1]", "top_p": "(0, 1]"}
_LIMITS = _AT_LEAST_1 | _AT_LEAST_0 | _ABOVE_0 | set(_FRACTIONS)


def _out_of_range(name: str, value: float) -> str | None:
    if name in _AT_LEAST_1 and value < 1:
        return "must be at least 1"
    if name in _AT_LEAST_0 and value < 0:
        return "must be at least 0"
    if name in _ABOVE_0 and value <= 0:
        return "must be above 0"
    bounds = _FRACTIONS.get(name)
    if bounds is not None:
        low_ok = value > 0 if bounds[0] == "(" else value >= 0
        high_ok = value < 1 if bounds[-1] == ")" else value <= 1
        if not (low_ok and high_ok):
            return f"must be in {bounds}"
    return None


def _limit_problems(obj: Any, path: Path_) -> Iterable[tuple[Path_, str]]:
    """Settings whose numbers make no sense (``lora.r: 0``, ``eval_fraction: 1.5``), found before anything loads."""
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        child = (*path, field.name)
        if attrs.has(type(value)):
            yield from _limit_problems(value, child)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if attrs.has(type(item)):
                    yield from _limit_problems(item, (*child, index))
        elif field.name in _LIMITS and isinstance(value, (int, float)) and not isinstance(value, bool):
            reason = _out_of_range(field.name, value)
            if reason:
                yield child, reason


def _structure(layered: _Layered, cls: type, title: str) -> Any:
    """Structure a merged raw mapping into ``cls``, reporting every problem at once."""

    def explain(path: Path_, text: str) -> str:
        value = _lookup(layered.data, path)
        shown = "" if text.startswith("unknown key") else f" = {value!r}"
        return f"{layered.origin(path)}: {_dotted(path)}{shown}: {text}"

    problems = [explain(path, text) for path, text in _unknown_keys(cls, layered.data, ())]
    if not problems:
        try:
            structured = converter().structure(layered.data, cls)
        except Exception as exc:  # cattrs raises exception groups describing each bad field
            problems = [explain(path, text) for path, text in _type_errors(exc)]
        else:
            problems = [explain(path, text) for path, text in _limit_problems(structured, ())]
            if not problems:
                return structured
    raise ConfigError(f"{title}:\n  " + "\n  ".join(problems))


def build_config(layered: _Layered) -> RunConfig:
    return _structure(layered, RunConfig, "invalid configuration")


def load_run_config(
    path: str | Path | None, preset: str | None, overrides: Sequence[str] = (), *, example: str = "tiny"
) -> RunConfig:
    """:func:`load_config` for a command: a CONFIG file or a preset is required (``example`` names one)."""
    if path is None and preset is None:
        raise ConfigError(f"give a CONFIG file or --preset (e.g. --preset {example})")
    return load_config(path, preset=preset, overrides=overrides)


def load_config(
    path: str | Path | None = None, *, preset: str | None = None, overrides: Sequence[str] = ()
) -> RunConfig:
    """Defaults, then the preset (argument or the file's ``preset:`` key), the file, then ``--set``."""
    layered = _Layered()
    file_data: dict[str, Any] = {}
    lines: dict[Path_, int] = {}
    if path is not None:
        file_data, lines = read_config_file(path)
    chosen = preset or file_data.get("preset")
    if chosen is not None:
        if not isinstance(chosen, str):
            raise ConfigError(f"{path}: preset = {chosen!r}: expected a preset name ({', '.join(preset_names())})")
        layered.merge(preset_data(chosen), lambda _p: f"preset {chosen}")
        layered.data["preset"] = chosen
    if file_data:

        def file_origin(key_path: Path_) -> str:
            line = lines.get(key_path)
            return f"{path}:{line}" if line else str(path)

        layered.merge({k: v for k, v in file_data.items() if not (k == "preset" and preset)}, file_origin)
    for text in overrides:
        key_path, value = parse_override(text)
        if key_path == ("preset",):
            raise ConfigError(
                f"--set {text}: a preset is chosen with --preset {value} (or preset: in the config file); "
                "--set changes keys after the preset is applied"
            )
        layered.merge(_nest(key_path, value), lambda _p, text=text: f"--set {text}")
    return build_config(layered)


def config_to_dict(config: Any) -> dict[str, Any]:
    return converter().unstructure(config)


def dump_config(config: Any, fmt: Literal["yaml", "json", "toml"] = "yaml") -> str:
    """Render a config as YAML (default), JSON or TOML (TOML has no null: unset keys are left out)."""
    import yaml

    data = config_to_dict(config)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(_drop_none(data))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def structure_section(cls: type | None, overrides: Sequence[str], *, what: str) -> Any:
    """Build a plugin's own attrs config from ``KEY=VALUE`` strings, with the same strict checks."""
    if cls is None:
        if overrides:
            raise ConfigError(f"{what} takes no options")
        return None
    layered = _Layered()
    for text in overrides:
        key_path, value = parse_override(text)
        layered.merge(_nest(key_path, value), lambda _p, text=text: f"{what} option {text}")
    return _structure(layered, cls, f"invalid {what} options")


def structure_mapping(cls: type, data: Mapping[str, Any], *, what: str) -> Any:
    """Build an attrs config from a mapping (a plugin's own section), with the same strict checks."""
    layered = _Layered()
    layered.merge(dict(data), lambda _p: what)
    return _structure(layered, cls, f"invalid {what}")
