"""The ``ollama`` backend: Ollama's native API (``POST /api/chat`` without streaming, ``GET /api/tags``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolset.components import ChatResponse
from toolset_eval.backend_config import OllamaConfig
from toolset_eval.errors import BackendResponseError
from toolset_eval.messages import to_ollama_messages, tool_calls_from_wire
from toolset_eval.sampling import merge_options, only_model
from toolset_eval.transport import JsonClient, resolve_url

DEFAULT_PORT = 11434
# Our option names -> the keys of Ollama's "options" object.
_OPTION_NAMES = {"max_tokens": "num_predict"}


class OllamaClient:
    """Talks to one Ollama server; connects on the first call."""

    def __init__(self, config: OllamaConfig | None = None) -> None:
        self.config = config or OllamaConfig()
        self.base_url = resolve_url(
            self.config.host, self.config.port, env_var="OLLAMA_HOST", default="127.0.0.1", default_port=DEFAULT_PORT
        )
        self.http = JsonClient(
            self.base_url,
            what="Ollama",
            timeout_s=self.config.timeout_s,
            connect_timeout_s=self.config.connect_timeout_s,
            hint=" Start it with `ollama serve`, or point host= (or OLLAMA_HOST) at it.",
        )
        self._default_model: str | None = None

    def __repr__(self) -> str:
        return f"OllamaClient({self.base_url!r})"

    def close(self) -> None:
        self.http.close()

    def list_models(self) -> list[str]:
        payload = self.http.get("/api/tags")
        models = payload.get("models") if isinstance(payload, Mapping) else None
        if not isinstance(models, list):
            raise BackendResponseError(f"Ollama at {self.base_url}/api/tags answered without a 'models' list")
        return [str(m.get("name") or m.get("model")) for m in models if isinstance(m, Mapping)]

    def chat(
        self, messages: Sequence[Any], tools: Sequence[Mapping[str, Any]] | None = None, **options: Any
    ) -> ChatResponse:
        merged = merge_options(self.config, options, backend="ollama", extra=("num_ctx", "keep_alive"))
        model = merged.pop("model", None) or self._model()
        body: dict[str, Any] = {"model": model, "messages": to_ollama_messages(messages), "stream": False}
        if tools:
            body["tools"] = list(tools)
        keep_alive = merged.pop("keep_alive", None)
        if merged:
            body["options"] = {_OPTION_NAMES.get(key, key): value for key, value in merged.items()}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        payload = self.http.post("/api/chat", body)
        message = payload.get("message") if isinstance(payload, Mapping) else None
        if not isinstance(message, Mapping):
            raise BackendResponseError(f"Ollama at {self.base_url}/api/chat answered without a 'message' object")
        return ChatResponse(
            content=message.get("content") or None,
            tool_calls=tool_calls_from_wire(message.get("tool_calls")),
            raw=payload,
            model=payload.get("model", model),
        )

    def _model(self) -> str:
        if self._default_model is None:
            self._default_model = only_model(self.list_models(), backend="ollama", where=f"Ollama at {self.base_url}")
        return self._default_model
