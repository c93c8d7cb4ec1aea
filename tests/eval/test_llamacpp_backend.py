"""The in-process llamacpp backend on the embedded SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import pytest

from toolset.components import ChatResponse
from toolset_eval.backend_config import LlamaCppConfig
from toolset_eval.errors import BackendError
from toolset_eval.llamacpp import LlamaCppClient
from toolset_eval.plugin import llamacpp_client

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.mark.llama_cpp
def test_embedded_model_chats_deterministically(embedded_gguf_path):
    client = llamacpp_client(LlamaCppConfig(max_tokens=8, n_ctx=1024))
    assert client._llama is None  # nothing loaded before the first chat
    assert client.list_models() == [embedded_gguf_path.name]
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat(messages, tools=TOOLS)
    assert isinstance(first, ChatResponse)
    assert first.model == embedded_gguf_path.name
    assert first.raw["usage"]["completion_tokens"] <= 8
    assert first.content == client.chat(messages, tools=TOOLS).content
    sampled = [client.chat(messages, temperature=1.0, seed=seed, max_tokens=4).content for seed in (5, 5)]
    assert sampled[0] == sampled[1]
    client.close()


def test_missing_model_file_is_a_clear_error(tmp_path):
    client = LlamaCppClient(LlamaCppConfig(model_path=str(tmp_path / "absent.gguf")))
    with pytest.raises(BackendError, match=r"model_path .*absent.gguf.* is not a file"):
        client.list_models()
