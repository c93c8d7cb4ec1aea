"""The attrs config classes of the backends (light: imported when the plugin loads).

Sampling fields are the defaults of every ``chat`` call; a call's own options override them. ``None`` leaves
a value to the server. Defaults are deterministic (temperature 0, seed 0) because evaluations compare runs.
"""

from __future__ import annotations

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
    """In-process llama-cpp-python. ``model_path``: a GGUF file (default: the embedded SmolLM2-135M-Instruct)."""

    model_path: str | None = None
    n_ctx: int = 4096
    n_threads: int | None = None
    chat_format: str | None = None
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = 256
    seed: int | None = 0
