"""lmstudio and openai backends end to end against a real llama-cpp-python OpenAI-compatible server.

The 135M model does not call tools well: these tests check the protocol (requests accepted with tools, replies
read into ChatResponse, models listed, the API key sent), not the model's answers.
"""

from __future__ import annotations

import pytest

from toolset.components import ChatResponse
from toolset_eval.backend_config import LMStudioConfig, OpenAIConfig
from toolset_eval.errors import BackendError, BackendResponseError
from toolset_eval.parsing import ParseResult, parse_response
from toolset_eval.plugin import lmstudio_client, openai_client

from .conftest import WEATHER_QUESTION as QUESTION
from .conftest import WEATHER_TOOLS as TOOLS

pytestmark = [pytest.mark.llama_cpp, pytest.mark.slow]


def test_openai_backend_lists_models_and_chats_with_tools(llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", llama_server.api_key)
    client = openai_client(OpenAIConfig(host=llama_server.url, max_tokens=8))
    assert client.list_models() == [llama_server.alias]
    response = client.chat(QUESTION, tools=TOOLS)
    assert isinstance(response, ChatResponse)
    assert response.model  # the server names the model that answered
    assert response.raw["object"] == "chat.completion"
    assert response.raw["usage"]["completion_tokens"] <= 8
    assert response.content or response.tool_calls
    assert isinstance(parse_response(response), ParseResult)


def test_sampling_is_seeded_and_deterministic(llama_server):
    client = lmstudio_client(
        LMStudioConfig(host=llama_server.url, api_key=llama_server.api_key, model=llama_server.alias)
    )
    options = {"max_tokens": 8, "temperature": 0.9, "seed": 1234}
    first = client.chat(QUESTION, tools=TOOLS, **options)
    second = client.chat(QUESTION, tools=TOOLS, **options)
    assert first.content == second.content
    assert first.raw["usage"]["completion_tokens"] <= 8


def test_wrong_api_key_is_refused_without_showing_it(llama_server):
    client = openai_client(OpenAIConfig(host=llama_server.url, api_key="wrong-key-1234", model=llama_server.alias))
    with pytest.raises(BackendResponseError) as caught:
        client.list_models()
    assert "HTTP 401" in str(caught.value) and "check the API key" in str(caught.value)
    assert "wrong-key-1234" not in str(caught.value)


def test_history_with_a_tool_result_is_accepted(llama_server):
    client = lmstudio_client(
        LMStudioConfig(host=llama_server.url, api_key=llama_server.api_key, max_tokens=4, model=llama_server.alias)
    )
    call = {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}  # flat, as in toolset's data model
    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call]},  # null content: OpenAI's shape for a call
        {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "clear"}'},
    ]
    assert isinstance(client.chat(history, tools=TOOLS), ChatResponse)
    with pytest.raises(BackendError, match="unknown chat option"):
        client.chat(history, num_predict=3)
