"""Base URLs from config and environment, connection refused and timeouts as clear ToolsetErrors."""

from __future__ import annotations

import time

import pytest

from toolset.errors import ToolsetError
from toolset_eval.backend_config import LMStudioConfig, OllamaConfig, OpenAIConfig
from toolset_eval.errors import BackendConnectionError, BackendError, BackendTimeoutError
from toolset_eval.ollama import OllamaClient
from toolset_eval.plugin import lmstudio_client, openai_client
from toolset_eval.transport import resolve_url


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "http://127.0.0.1:11434"),
        ("example.org", None, "http://example.org:11434"),
        ("example.org:8080", None, "http://example.org:8080"),
        ("0.0.0.0", None, "http://127.0.0.1:11434"),
        (":9999", None, "http://127.0.0.1:9999"),
        ("http://example.org", None, "http://example.org"),
        ("https://example.org/", None, "https://example.org"),
        ("https://example.org/ollama/", None, "https://example.org/ollama"),
        ("http://[::1]:5000", None, "http://[::1]:5000"),
        ("example.org:8080", 9090, "http://example.org:9090"),
    ],
)
def test_resolve_url(monkeypatch, host, port, expected):
    monkeypatch.delenv("TEST_HOST_VARIABLE", raising=False)
    resolved = resolve_url(host, port, env_var="TEST_HOST_VARIABLE", default="127.0.0.1", default_port=11434)
    assert resolved == expected


def test_config_host_wins_over_environment(monkeypatch):
    monkeypatch.setenv("TEST_HOST_VARIABLE", "from-env:1")
    assert resolve_url(None, None, env_var="TEST_HOST_VARIABLE", default="x", default_port=2) == "http://from-env:1"
    assert resolve_url("cfg:3", None, env_var="TEST_HOST_VARIABLE", default="x", default_port=2) == "http://cfg:3"


@pytest.mark.parametrize(("host", "message"), [("ftp://h", "unsupported scheme 'ftp'"), ("h:port", "not a number")])
def test_bad_host_is_a_clear_error(host, message):
    with pytest.raises(BackendError, match=message):
        OllamaClient(OllamaConfig(host=host))


def test_openai_compatible_base_urls(monkeypatch):
    monkeypatch.delenv("LMSTUDIO_HOST", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert lmstudio_client(LMStudioConfig()).base_url == "http://127.0.0.1:1234/v1"
    assert openai_client(OpenAIConfig()).base_url == "http://127.0.0.1:8000/v1"
    assert openai_client(OpenAIConfig(host="https://api.example.com/v1")).base_url == "https://api.example.com/v1"
    monkeypatch.setenv("LMSTUDIO_HOST", "10.0.0.5:4321")
    assert lmstudio_client(LMStudioConfig()).base_url == "http://10.0.0.5:4321/v1"


# ids must not equal a marker name: the root conftest's marker skips look at item keywords, which hold ids.
@pytest.mark.parametrize("backend", ["ollama", "lmstudio", "openai"], ids=lambda name: f"{name}-backend")
def test_connection_refused_names_the_url(backend, closed_url):
    url = closed_url
    client = {
        "ollama": lambda: OllamaClient(OllamaConfig(host=url, model="m")),
        "lmstudio": lambda: lmstudio_client(LMStudioConfig(host=url, model="m")),
        "openai": lambda: openai_client(OpenAIConfig(host=url, model="m", api_key="sk-do-not-print")),
    }[backend]()
    with pytest.raises(BackendConnectionError) as caught:
        client.chat([{"role": "user", "content": "hi"}])
    message = str(caught.value)
    assert isinstance(caught.value, ToolsetError)
    assert url in message and "connection refused" in message and "is the server running?" in message
    assert "sk-do-not-print" not in message
    with pytest.raises(BackendConnectionError, match=url):
        client.list_models()


def test_read_timeout_is_honoured(ollama_server):
    ollama_server.delay_s = 2.0
    client = OllamaClient(OllamaConfig(host=ollama_server.url, model="m", timeout_s=0.3))
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError, match=rf"{ollama_server.url}/api/chat did not answer within 0.3 s"):
        client.chat([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 1.5


def test_non_json_reply_is_a_clear_error(ollama_server):
    ollama_server.replies["/api/tags"] = (200, "just a string")
    with pytest.raises(BackendError, match="without a 'models' list"):
        OllamaClient(OllamaConfig(host=ollama_server.url)).list_models()


def test_api_key_is_hidden_from_config_and_client_repr():
    config = OpenAIConfig(api_key="sk-hidden-value")
    client = openai_client(config)
    assert "sk-hidden-value" not in repr(config)
    assert "sk-hidden-value" not in repr(client)
    assert "sk-hidden-value" not in repr(client.http)


def test_server_closing_the_connection_is_a_clear_error():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept_and_close():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(BackendConnectionError, match="closed the connection without answering"):
            OllamaClient(OllamaConfig(host=url)).list_models()
    finally:
        thread.join(timeout=5)
        listener.close()
