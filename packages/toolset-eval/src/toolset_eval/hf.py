"""The ``transformers`` backend: a Hugging Face model in this process, with an optional PEFT adapter.

Nothing is imported or loaded when a client is built: torch, transformers (and peft, for an adapter) load on
the first ``chat``. The prompt is the tokenizer's chat template rendered with ``tools=``; the answer is the
generated text, which the scorer parses like any other (Hermes ``<tool_call>``, the legacy text style, JSON...).

The runner makes one client per worker thread. Clients with the same model, adapter, device, dtype and
template share one loaded copy, and a lock around ``generate`` lets one thread use it at a time; the copy is
released when its last client closes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from toolset.components import ChatResponse
from toolset_eval.configs import TransformersConfig
from toolset_eval.errors import BackendError
from toolset_eval.messages import decode_arguments, to_openai_messages
from toolset_eval.sampling import merge_options

ADAPTER_FILE = "adapter_config.json"
INSTALL_HINT = 'pip install torch transformers (and peft for adapters); see "toolset doctor"'


@attrs.frozen
class ModelSpec:
    """Where the weights come from, resolved from a config (paths only; nothing loaded)."""

    base: Path
    adapter: Path | None
    device: str
    dtype: str
    chat_template: str | None

    @property
    def name(self) -> str:
        return f"{self.base.name}+{self.adapter.name}" if self.adapter else self.base.name


@attrs.define
class Loaded:
    model: Any
    tokenizer: Any
    device: str
    lock: threading.Lock = attrs.Factory(threading.Lock)
    users: int = 0


_CACHE: dict[ModelSpec, Loaded] = {}
_CACHE_LOCK = threading.Lock()


def _adapter_in(folder: Path) -> Path | None:
    for candidate in (folder, folder / "final_model"):
        if (candidate / ADAPTER_FILE).is_file():
            return candidate
    return None


def _base_of_adapter(adapter: Path, override: str | None) -> Path:
    """The base model of an adapter: ``override``, the run's toolset.json, else adapter_config.json's."""
    if override:
        path = Path(override).expanduser()
        if not path.is_dir():
            raise BackendError(f"transformers backend: base_model {override!r} is not a folder")
        return path
    info = adapter / "toolset.json"
    if info.is_file():
        try:
            folder = json.loads(info.read_text(encoding="utf-8")).get("base_model_dir")
        except (ValueError, AttributeError):
            folder = None
        if folder and Path(folder).is_dir():
            return Path(folder)
    try:
        named = json.loads((adapter / ADAPTER_FILE).read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (ValueError, AttributeError, OSError) as exc:
        raise BackendError(f"transformers backend: cannot read {adapter / ADAPTER_FILE}: {exc}") from None
    if named and Path(named).expanduser().is_dir():
        return Path(named).expanduser()
    raise BackendError(
        f"transformers backend: the base model of the adapter {adapter} ({named!r}) is not a folder here: set "
        "base_model=PATH (the Hugging Face folder the adapter was trained on)"
    )


def _embedded() -> Path:
    from toolset.errors import ToolsetError
    from toolset.models import embedded_model_dir

    try:
        return embedded_model_dir()
    except ToolsetError as exc:
        raise BackendError(f"transformers backend: no model set and {exc}; set model=PATH") from None


def resolve(config: TransformersConfig) -> ModelSpec:
    """The base folder and adapter folder ``config`` names; raises a BackendError for missing folders."""
    model = Path(config.model).expanduser() if config.model else None
    if model is not None and not model.is_dir():
        raise BackendError(f"transformers backend: model {config.model!r} is not a folder")
    adapter: Path | None = None
    if config.adapter:
        folder = Path(config.adapter).expanduser()
        adapter = _adapter_in(folder) if folder.is_dir() else None
        if adapter is None:
            raise BackendError(f"transformers backend: adapter {config.adapter!r} holds no {ADAPTER_FILE}")
    elif model is not None:
        adapter = _adapter_in(model)
    if adapter is None:
        base = model or (Path(config.base_model).expanduser() if config.base_model else None) or _embedded()
    elif config.adapter and model is not None:
        base = model
    else:
        base = _base_of_adapter(adapter, config.base_model)
    if not (base / "config.json").is_file():
        raise BackendError(f"transformers backend: {base} has no config.json (not a Hugging Face model folder)")
    return ModelSpec(
        base=base.resolve(),
        adapter=adapter.resolve() if adapter else None,
        device=config.device,
        dtype=config.dtype,
        chat_template=config.chat_template,
    )


def _load(spec: ModelSpec) -> Loaded:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BackendError(f"transformers backend: {exc}; {INSTALL_HINT}") from None
    device = spec.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise BackendError("transformers backend: device=cuda but torch sees no CUDA GPU (use device=auto or cpu)")
    if spec.dtype != "auto":
        dtype = getattr(torch, spec.dtype)
    elif device == "cpu":
        dtype = torch.float32
    else:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    tokenizer_source = spec.adapter if spec.adapter and (spec.adapter / "tokenizer_config.json").is_file() else None
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_source or spec.base))
        model = transformers.AutoModelForCausalLM.from_pretrained(str(spec.base), dtype=dtype)
    except (OSError, ValueError) as exc:
        raise BackendError(f"transformers backend: cannot load {spec.base}: {exc}") from None
    if spec.adapter is not None:
        try:
            from peft import PeftModel
        except ImportError:
            raise BackendError(f"transformers backend: {spec.adapter} is a PEFT adapter: pip install peft") from None
        try:
            model = PeftModel.from_pretrained(model, str(spec.adapter))
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(
                f"transformers backend: cannot apply the adapter {spec.adapter} to {spec.base}: {exc}"
            ) from None
    if spec.chat_template:
        from toolset import chat_templates

        try:
            tokenizer.chat_template = chat_templates.load(spec.chat_template)
        except ValueError as exc:
            raise BackendError(f"transformers backend: {exc}") from None
    if not tokenizer.chat_template:
        raise BackendError(
            f"transformers backend: the tokenizer of {spec.name} has no chat template: set chat_template="
            "chatml|llama3|mistral or a .jinja file"
        )
    model.to(device)
    model.eval()
    return Loaded(model=model, tokenizer=tokenizer, device=device)


def _acquire(spec: ModelSpec) -> Loaded:
    with _CACHE_LOCK:
        loaded = _CACHE.get(spec)
        if loaded is None:
            loaded = _CACHE[spec] = _load(spec)
        loaded.users += 1
        return loaded


def _release(spec: ModelSpec) -> None:
    with _CACHE_LOCK:
        loaded = _CACHE.get(spec)
        if loaded is not None:
            loaded.users -= 1
            if loaded.users <= 0:
                del _CACHE[spec]


class TransformersClient:
    """Chat with a Hugging Face model (and adapter) through its chat template and ``generate``."""

    def __init__(self, config: TransformersConfig | None = None) -> None:
        self.config = config or TransformersConfig()
        self._spec: ModelSpec | None = None
        self._loaded: Loaded | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransformersClient({self.config.model or 'embedded SmolLM2-135M-Instruct'!r})"

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            self._spec = resolve(self.config)
        return self._spec

    def list_models(self) -> list[str]:
        return [self.spec.name]

    def loaded(self) -> Loaded:
        """The model and tokenizer, loaded (or shared with another client) on first use."""
        with self._lock:
            if self._loaded is None:
                self._loaded = _acquire(self.spec)
            return self._loaded

    def render(self, messages: Sequence[Any], tools: Sequence[Mapping[str, Any]] | None = None) -> str:
        """The prompt text the model sees: the chat template with ``tools`` and the generation prompt."""
        loaded = self.loaded()
        plain = _template_messages(messages)
        try:
            return loaded.tokenizer.apply_chat_template(
                plain,
                tools=list(tools) if tools else None,
                add_generation_prompt=True,
                tokenize=False,
            )
        except Exception as exc:  # jinja errors: a template that cannot render these messages
            raise BackendError(f"transformers backend: the chat template of {self.spec.name} failed: {exc}") from None

    def chat(
        self, messages: Sequence[Any], tools: Sequence[Mapping[str, Any]] | None = None, **options: Any
    ) -> ChatResponse:
        import torch

        merged = merge_options(self.config, options, backend="transformers")
        merged.pop("model", None)  # one model per client
        prompt = self.render(messages, tools)
        loaded = self.loaded()
        tokenizer = loaded.tokenizer
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(loaded.device)
        temperature = merged.get("temperature") or 0.0
        generation: dict[str, Any] = {"max_new_tokens": merged.get("max_tokens", 256)}
        if temperature > 0:
            generation.update(do_sample=True, temperature=temperature, top_p=merged.get("top_p", 1.0))
        else:
            generation.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if merged.get("stop"):
            stop = merged["stop"]
            generation.update(stop_strings=[stop] if isinstance(stop, str) else list(stop), tokenizer=tokenizer)
        if tokenizer.pad_token_id is None:
            generation["pad_token_id"] = tokenizer.eos_token_id
        with loaded.lock:
            if merged.get("seed") is not None:
                torch.manual_seed(int(merged["seed"]))
            try:
                with torch.inference_mode():
                    output = loaded.model.generate(**encoded, **generation)
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"transformers backend ({self.spec.name}): generation failed: {exc}") from None
        prompt_tokens = int(encoded["input_ids"].shape[1])
        new_ids = output[0, prompt_tokens:].tolist()
        text, finish = _decode(tokenizer, loaded.model, new_ids, generation["max_new_tokens"])
        raw = {
            "text": text,
            "finish_reason": finish,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(new_ids)},
        }
        return ChatResponse(content=text, tool_calls=[], raw=raw, model=self.spec.name)

    def close(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded = None
                _release(self.spec)


def _template_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """OpenAI-shaped messages with each call's arguments as an object: Hugging Face templates (Qwen's,
    Llama's...) write ``arguments | tojson`` and would quote a JSON string a second time."""
    converted = to_openai_messages(messages)
    for message in converted:
        for call in message.get("tool_calls") or []:
            call["function"]["arguments"] = decode_arguments(call["function"]["arguments"])
    return converted


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(item) for item in value)
    return ids


def _decode(tokenizer: Any, model: Any, ids: list[int], limit: int) -> tuple[str, str]:
    """The answer up to the first end-of-turn token; special tokens other than that kept (``<tool_call>``
    may be one), the tokenizer's bos / eos / pad text removed."""
    eos = _eos_ids(tokenizer, model)
    cut = next((index for index, token in enumerate(ids) if token in eos), None)
    finish = "stop" if cut is not None or len(ids) < limit else "length"
    text = tokenizer.decode(ids[:cut] if cut is not None else ids, skip_special_tokens=False)
    for token in {tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token} - {None, ""}:
        text = text.replace(token, "")
    return text, finish
