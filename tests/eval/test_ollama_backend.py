"""The ollama backend against a local server speaking Ollama's documented /api/chat and /api/tags."""

from __future__ import annotations

import pytest

from toolset.components import ChatResponse
from toolset_eval.backend_config import OllamaConfig
from toolset_eval.errors import BackendError, BackendResponseError
from toolset_eval.ollama import OllamaClient
from toolset_eval.parsing import parse_response
from toolset_eval.plugin import ollama_client

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "contentManager_readContent",
            "description": "Read a note",
            "parameters": {
                "type": "object",
                "properties": {"context": {"type": "object"}, "filePath": {"type": "string"}},
                "required": ["context", "filePath"],
            },
        },
    }
]


def test_chat_sends_the_documented_request_and_reads_tool_calls(ollama_server):
    client = ollama_client(OllamaConfig(host=ollama_server.url, model="qwen2.5:0.5b", max_tokens=64, seed=7))
    response = client.chat([{"role": "user", "content": "Read today's note"}], tools=TOOLS, temperature=0.2)

    (request,) = ollama_server.requests
    assert (request.method, request.path) == ("POST", "/api/chat")
    assert request.body == {
        "model": "qwen2.5:0.5b",
        "messages": [{"role": "user", "content": "Read today's note"}],
        "stream": False,
        "tools": TOOLS,
        "options": {"temperature": 0.2, "num_predict": 64, "seed": 7},
    }
    assert isinstance(response, ChatResponse)
    assert response.model == "qwen2.5:0.5b"
    assert response.content is None
    assert response.tool_calls == [
        {
            "name": "contentManager_readContent",
            "arguments": {"context": {"sessionId": "s1"}, "filePath": "notes/today.md"},
        }
    ]
    assert list(response.tool_calls[0]["arguments"]) == ["context", "filePath"]
    parsed = parse_response(response)
    assert parsed.ok and parsed.style == "native"
    assert parsed.calls[0].name == "contentManager_readContent"


def test_history_with_tool_calls_is_sent_in_ollama_shape(ollama_server):
    client = OllamaClient(OllamaConfig(host=ollama_server.url, model="m", temperature=None, seed=None))
    history = [
        {"role": "user", "content": "read it"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read", "arguments": '{"b": 1, "a": 2}'}}
            ],
        },
        {"role": "tool", "name": "read", "tool_call_id": "c1", "content": "text of the note"},
    ]
    client.chat(history)
    body = ollama_server.requests[0].body
    assert "tools" not in body and "options" not in body
    assert body["messages"][1]["tool_calls"] == [{"function": {"name": "read", "arguments": {"b": 1, "a": 2}}}]
    assert list(body["messages"][1]["tool_calls"][0]["function"]["arguments"]) == ["b", "a"]
    assert body["messages"][2] == {
        "role": "tool",
        "tool_name": "read",
        "tool_call_id": "c1",
        "content": "text of the note",
    }


def test_list_models_reads_api_tags(ollama_server):
    assert OllamaClient(OllamaConfig(host=ollama_server.url)).list_models() == ["qwen2.5:0.5b", "llama3.2:latest"]
    assert [(r.method, r.path) for r in ollama_server.requests] == [("GET", "/api/tags")]


def test_model_defaults_to_the_only_served_one_and_several_need_a_choice(ollama_server):
    client = OllamaClient(OllamaConfig(host=ollama_server.url))
    with pytest.raises(BackendError, match=r"several models \(qwen2.5:0.5b, llama3.2:latest\).*model=NAME"):
        client.chat([{"role": "user", "content": "hi"}])
    ollama_server.replies["/api/tags"] = (200, {"models": [{"name": "only:1b", "model": "only:1b"}]})
    client = OllamaClient(OllamaConfig(host=ollama_server.url))
    assert client.chat([{"role": "user", "content": "hi"}]).model == "only:1b"


def test_connection_is_reused_and_lazy(ollama_server):
    client = OllamaClient(OllamaConfig(host=ollama_server.url, model="m"))
    assert ollama_server.requests == []  # building the client connects to nothing
    for _ in range(3):
        client.chat([{"role": "user", "content": "hi"}])
    assert len(ollama_server.requests) == 3
    assert client.http._session is not None


def test_server_error_message_is_shown(ollama_server):
    ollama_server.replies["/api/chat"] = (404, {"error": "model 'nope' not found, try pulling it first"})
    client = OllamaClient(OllamaConfig(host=ollama_server.url, model="nope"))
    with pytest.raises(BackendResponseError, match=r"HTTP 404: model 'nope' not found"):
        client.chat([{"role": "user", "content": "hi"}])


def test_reply_without_message_is_a_clear_error(ollama_server):
    ollama_server.replies["/api/chat"] = (200, {"done": True})
    with pytest.raises(BackendResponseError, match="without a 'message' object"):
        OllamaClient(OllamaConfig(host=ollama_server.url, model="m")).chat([{"role": "user", "content": "hi"}])


def test_unknown_chat_option_is_refused(ollama_server):
    client = OllamaClient(OllamaConfig(host=ollama_server.url, model="m"))
    with pytest.raises(BackendError, match="unknown chat option.*temprature"):
        client.chat([{"role": "user", "content": "hi"}], temprature=0.5)
    assert ollama_server.requests == []


def test_ollama_host_environment_variable_is_honoured(ollama_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url.removeprefix("http://"))  # host:port, no scheme
    client = OllamaClient()
    assert client.base_url == ollama_server.url
    assert client.list_models()[0] == "qwen2.5:0.5b"


def test_data_model_messages_are_accepted(ollama_server):
    from toolset.data import Message, ToolCall

    history = [
        Message(role="user", content="read it"),
        Message(role="assistant", tool_calls=[ToolCall(name="read", arguments={"z": 1, "a": 2}, id="c1")]),
        Message(role="tool", name="read", tool_call_id="c1", content="note text"),
    ]
    OllamaClient(OllamaConfig(host=ollama_server.url, model="m")).chat(history)
    sent = ollama_server.requests[0].body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [{"function": {"name": "read", "arguments": {"z": 1, "a": 2}}}],
    }
    assert sent[2] == {"role": "tool", "tool_name": "read", "tool_call_id": "c1", "content": "note text"}


def test_a_message_without_role_is_refused(ollama_server):
    with pytest.raises(BackendError, match="message 1 is not a chat message with a role"):
        OllamaClient(OllamaConfig(host=ollama_server.url, model="m")).chat([{"role": "user", "content": "a"}, "hello"])
