"""The ``transformers`` backend: a Hugging Face model in this process, with an optional PEFT adapter.

Nothing is imported or loaded when a client is built: torch, transformers (and peft, for an adapter) load on
the first ``chat``. The prompt is the tokenizer's chat template rendered with ``tools=``; the answer is the
generated text, which the scorer parses like any other (Hermes ``<tool_call>``, the legacy text style, JSON...).

The runner makes one client per worker thread. Clients with the same model, adapter, device, dtype and
template share one loaded copy, released when its last client closes, and a lock lets one ``generate`` run at a
time. Greedy requests (temperature 0) that wait together run as one left-padded batch, up to one per client, so
``--concurrency`` pays off here too; sampled ones run one at a time, each with its own seed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from toolset.components import ChatResponse
from toolset_eval.backend_config import TransformersConfig
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


GATHER_S = 0.05  # how long a batch waits for the other clients' requests before it starts


@attrs.define(eq=False)
class Pending:
    """A greedy request waiting for its batch: prompt ids, the generation options as a key, then the answer."""

    ids: list[int]
    key: str
    new_ids: list[int] | None = None
    error: BackendError | None = None


@attrs.define
class Loaded:
    model: Any
    tokenizer: Any
    device: str
    lock: threading.Lock = attrs.Factory(threading.Lock)  # one generate at a time
    users: int = 0
    queue: list[Pending] = attrs.Factory(list)
    worker: ThreadPoolExecutor = attrs.Factory(
        lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolset-generate")
    )
    leading: bool = False  # a thread is gathering or generating a greedy batch
    changed: threading.Condition = attrs.Factory(threading.Condition)  # guards ``queue`` and ``leading``


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
    from toolset.weights.models import embedded_model_dir

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
        from toolset.weights import chat_templates

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
                loaded.worker.shutdown(wait=False)


def _generate(loaded: Loaded, seed: int | None = None, **kwargs: Any) -> Any:
    """``model.generate(**kwargs)`` (after seeding torch with ``seed``), always in the model's one worker thread:
    torch's CPU thread pool belongs to the thread that calls it, and pools of several calling threads would
    compete for the cores."""

    def run() -> Any:
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            return loaded.model.generate(**kwargs)

    return loaded.worker.submit(run).result()


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
        generation["pad_token_id"] = _pad_id(tokenizer)
        prompt_tokens = int(encoded["input_ids"].shape[1])
        if temperature > 0:
            seed = int(merged["seed"]) if merged.get("seed") is not None else None
            with loaded.lock:
                try:
                    output = _generate(loaded, seed, **encoded, **generation)
                except (RuntimeError, ValueError) as exc:
                    raise BackendError(f"transformers backend ({self.spec.name}): generation failed: {exc}") from None
            new_ids = output[0, prompt_tokens:].tolist()
        else:
            new_ids = _generate_greedy(loaded, encoded["input_ids"][0].tolist(), generation, self.spec.name)
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


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _generate_greedy(loaded: Loaded, ids: list[int], generation: dict[str, Any], name: str) -> list[int]:
    """The new token ids for prompt ``ids``, generated in one batch with the greedy requests of the other
    clients that are waiting with the same options: the first thread to find no batch under way leads one,
    the others wait for their answers (or to lead the next batch)."""
    key = json.dumps({k: v for k, v in generation.items() if k != "tokenizer"}, sort_keys=True, default=str)
    mine = Pending(ids, key)
    with loaded.changed:
        loaded.queue.append(mine)
        loaded.changed.notify_all()
    while True:
        with loaded.changed:
            while mine.new_ids is None and mine.error is None and loaded.leading:
                loaded.changed.wait()
            if mine.new_ids is not None or mine.error is not None:
                break
            loaded.leading = True
            batch = _gather(loaded, mine)
        try:
            with loaded.lock:  # not beside a sampled request's generate
                _run_batch(loaded, batch, generation, name)
        finally:
            with loaded.changed:
                for request in batch:  # an exception out of generate itself still answers every waiting thread
                    if request.new_ids is None and request.error is None:
                        request.error = BackendError(f"transformers backend ({name}): generation stopped")
                loaded.leading = False
                loaded.changed.notify_all()
    if mine.error is not None:
        raise mine.error
    return mine.new_ids or []


def _gather(loaded: Loaded, mine: Pending) -> list[Pending]:
    """``mine`` and the waiting requests with its options, up to one per client, taken off the queue; waits
    ``GATHER_S`` at most for the other clients to send theirs. Called holding ``loaded.changed``."""
    deadline = time.monotonic() + GATHER_S
    while True:
        batch = [request for request in loaded.queue if request.key == mine.key][: max(loaded.users, 1)]
        left = deadline - time.monotonic()
        if len(batch) >= loaded.users or left <= 0:
            break
        loaded.changed.wait(left)
    if mine not in batch:
        batch = [mine, *batch[:-1]] if batch else [mine]
    for request in batch:
        loaded.queue.remove(request)
    return batch


def _run_batch(loaded: Loaded, batch: list[Pending], generation: dict[str, Any], name: str) -> None:
    """One ``generate`` over the left-padded prompts of ``batch``; each request gets its own new ids (the
    padding after a row that finished first removed) or the error. A batch that fails (out of memory, say) is
    run again one request at a time."""
    import torch

    pad = generation["pad_token_id"]
    width = max(len(request.ids) for request in batch)
    rows = [[pad] * (width - len(request.ids)) + request.ids for request in batch]
    masks = [[0] * (width - len(request.ids)) + [1] * len(request.ids) for request in batch]
    try:
        output = _generate(
            loaded,
            input_ids=torch.tensor(rows, device=loaded.device),
            attention_mask=torch.tensor(masks, device=loaded.device),
            **generation,
        )
    except (RuntimeError, ValueError) as exc:
        if len(batch) > 1:
            if loaded.device.startswith("cuda"):
                torch.cuda.empty_cache()
            for request in batch:
                _run_batch(loaded, [request], generation, name)
            return
        batch[0].error = BackendError(f"transformers backend ({name}): generation failed: {exc}")
        return
    eos = _eos_ids(loaded.tokenizer, loaded.model)
    for request, row in zip(batch, output[:, width:].tolist(), strict=True):
        cut = next((index + 1 for index, token in enumerate(row) if token in eos), None)
        if cut is None:
            while len(batch) > 1 and row and row[-1] == pad:
                row.pop()
        request.new_ids = row[:cut]


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
