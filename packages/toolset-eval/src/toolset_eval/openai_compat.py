"""OpenAI-compatible chat completions, shared by the ``lmstudio`` and ``openai`` backends.

``POST {base}/chat/completions`` (non-streaming, ``tools`` passed through) and ``GET {base}/models``, where
``base`` is the configured URL, with ``/v1`` added when it has no path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from toolset.components import ChatResponse
from toolset_eval.errors import BackendResponseError
from toolset_eval.messages import to_openai_messages, tool_calls_from_wire
from toolset_eval.sampling import merge_options, only_model
from toolset_eval.transport import JsonClient, openai_base_url


class OpenAICompatClient:
    """A client of one OpenAI-compatible server; connects on the first call. The API key is never shown."""

    def __init__(
        self,
        config: Any,
        *,
        backend: str,
        what: str,
        host_env: str,
        default_port: int,
        key_env: str | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.base_url = openai_base_url(config.host, config.port, env_var=host_env, default_port=default_port)
        api_key = config.api_key or (os.environ.get(key_env) if key_env else None)
        self.http = JsonClient(
            self.base_url,
            what=what,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            hint=f" Start it, or point host= (or {host_env}) at it.",
        )
        self._default_model: str | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatClient({self.backend!r}, {self.base_url!r})"

    def close(self) -> None:
        self.http.close()

    def list_models(self) -> list[str]:
        payload = self.http.get("/models")
        data = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(data, list):
            raise BackendResponseError(f"{self.http.what} at {self.base_url}/models answered without a 'data' list")
        return [str(entry["id"]) for entry in data if isinstance(entry, Mapping) and "id" in entry]

    def chat(
        self, messages: Sequence[Any], tools: Sequence[Mapping[str, Any]] | None = None, **options: Any
    ) -> ChatResponse:
        merged = merge_options(self.config, options, backend=self.backend)
        model = merged.pop("model", None) or self._model()
        body: dict[str, Any] = {"model": model, "messages": to_openai_messages(messages), "stream": False, **merged}
        if tools:
            body["tools"] = list(tools)
        payload = self.http.post("/chat/completions", body)
        return response_from_openai(payload, where=f"{self.http.what} at {self.base_url}/chat/completions")

    def _model(self) -> str:
        if self._default_model is None:
            where = f"{self.http.what} at {self.base_url}"
            self._default_model = only_model(self.list_models(), backend=self.backend, where=where)
        return self._default_model


def response_from_openai(payload: Any, *, where: str) -> ChatResponse:
    """A chat-completion object (first choice) as a ChatResponse; legacy ``function_call`` is read too."""
    choices = payload.get("choices") if isinstance(payload, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise BackendResponseError(f"{where} answered without a 'choices' list")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise BackendResponseError(f"{where} answered without choices[0].message")
    tool_calls = tool_calls_from_wire(message.get("tool_calls"))
    if not tool_calls and isinstance(message.get("function_call"), Mapping):
        tool_calls = tool_calls_from_wire([message["function_call"]])
    return ChatResponse(
        content=message.get("content") or None, tool_calls=tool_calls, raw=payload, model=payload.get("model")
    )
