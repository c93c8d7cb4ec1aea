"""The attrs config classes of the backends (light: imported when the plugin loads).

Sampling fields are the defaults of every ``chat`` call; a call's own options override them. ``None`` leaves
a value to the server. Defaults are deterministic (temperature 0, seed 0) because evaluations compare runs.
"""

from __future__ import annotations

from typing import Literal

import attrs


@attrs.define(kw_only=True)
class OllamaConfig:
    """Ollama's native API. ``host``: URL or ``host:port`` (default ``OLLAMA_HOST``, then 127.0.0.1:11434)."""

    host: str | None = None
    port: int | None = None
    model: str | None = None
    timeout_s: float = 300.0
    connect_timeout_s: float = 5.0
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = 0
    num_ctx: int | None = None
    keep_alive: str | None = None


@attrs.define(kw_only=True)
class OpenAICompatibleConfig:
    """What every OpenAI-compatible backend takes."""

    host: str | None = None
    port: int | None = None
    model: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    timeout_s: float = 300.0
    connect_timeout_s: float = 5.0
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = 0


@attrs.define(kw_only=True)
class LMStudioConfig(OpenAICompatibleConfig):
    """LM Studio's OpenAI-compatible API. ``host``: URL (default ``LMSTUDIO_HOST``, then 127.0.0.1:1234)."""


@attrs.define(kw_only=True)
class OpenAIConfig(OpenAICompatibleConfig):
    """Any OpenAI-compatible server (vLLM, llama.cpp server...). ``host``: base URL, e.g. http://host:8000/v1.

    ``host`` defaults to ``OPENAI_BASE_URL``, then http://127.0.0.1:8000; ``api_key`` to ``OPENAI_API_KEY``.
    """


@attrs.define(kw_only=True)
class LlamaCppConfig:
    """In-process llama-cpp-python. ``model_path``: a GGUF file (default: the embedded SmolLM2-135M-Instruct);
    ``n_threads``: default every CPU this process may use."""

    model_path: str | None = None
    n_ctx: int = 4096
    n_threads: int | None = None
    chat_format: str | None = None
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = 256
    seed: int | None = 0


@attrs.define(kw_only=True)
class TransformersConfig:
    """An in-process Hugging Face model, with an optional PEFT (LoRA) adapter.

    ``model``: a Hugging Face model folder, a PEFT adapter folder (one holding ``adapter_config.json``; its base
    is ``base_model``, else the training run's ``toolset.json``, else the adapter's ``base_model_name_or_path``)
    or a training run folder with ``final_model/``; default: the embedded SmolLM2-135M-Instruct. ``adapter``: an
    adapter folder applied on top of ``model``. ``device``: ``auto`` (CUDA when available, else CPU), ``cpu`` or
    ``cuda``; ``dtype``: ``auto`` (float32 on CPU, bfloat16 or float16 on CUDA). ``chat_template``: a template
    family (``chatml``, ``llama3``, ``mistral``) or a ``.jinja`` file used instead of the tokenizer's own (for
    models whose template ignores ``tools``).
    """

    model: str | None = None
    adapter: str | None = None
    base_model: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    chat_template: str | None = None
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = 256
    seed: int | None = 0
