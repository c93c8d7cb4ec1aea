"""Faults a server injects into a run, byte for byte: malformed JSON, truncated tool calls, a body cut off
mid-transfer, a dropped connection, HTTP 500 then success. Each case becomes a scored failure with its reason
code, or a retry that then succeeds; the run never crashes and records every case exactly once.

Both wire protocols are driven: Ollama's ``/api/chat`` and the OpenAI-compatible ``/v1/chat/completions``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from toolset.components import ToolCatalog, ToolSpec
from toolset_eval.backend_config import LMStudioConfig, OllamaConfig
from toolset_eval.ollama import OllamaClient
from toolset_eval.plugin import lmstudio_client
from toolset_eval.prompts import parse_prompt_set
from toolset_eval.runner import RECORDS_FILE, RunSettings, read_records, run_cases
from toolset_eval.scoring import Scorer

SCHEMA = {
    "type": "object",
    "properties": {"filePath": {"type": "string"}},
    "required": ["filePath"],
    "additionalProperties": False,
}
CATALOG = ToolCatalog(name="notes", tools=[ToolSpec("notes_read", "Read a note.", SCHEMA)])
GOOD_ARGUMENTS = '{"filePath": "a.md"}'

# What the server does for each case, attempt after attempt (the last entry repeats).
#   ("call", arguments_json) a native tool call   ("text", content) an answer in text
#   ("status", code)         an HTTP error         ("raw", bytes) this exact body with HTTP 200
#   ("drop",)                close without answering   ("cut",) promise a body, send half of it, close
SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    "ok": [("call", GOOD_ARGUMENTS)],
    "malformed_json_body": [("raw", b'{"message": {"role": "assistant", "content": "x"')],
    "truncated_arguments": [("call", '{"filePath": "a.m')],
    "truncated_hermes": [("text", '<tool_call>\n{"name": "notes_read", "arguments": {"filePath": "a')],
    "arguments_not_object": [("call", '["a.md"]')],
    "error_500_then_ok": [("status", 500), ("call", GOOD_ARGUMENTS)],
    "dropped_then_ok": [("drop",), ("call", GOOD_ARGUMENTS)],
    "cut_body_then_ok": [("cut",), ("call", GOOD_ARGUMENTS)],
    "always_503": [("status", 503)],
    "no_message": [("raw", b'{"done": true, "choices": []}')],
}
EXPECTED = {  # case -> (passed, attempts, reason codes)
    "ok": (True, 1, []),
    "malformed_json_body": (False, 1, ["backend.error"]),
    "truncated_arguments": (False, 1, ["parse.invalid_json", "schema.arguments_not_json"]),
    "truncated_hermes": (False, 1, ["parse.unclosed_tag"]),
    "arguments_not_object": (False, 1, ["parse.invalid_arguments"]),
    "error_500_then_ok": (True, 2, []),
    "dropped_then_ok": (True, 2, []),
    "cut_body_then_ok": (True, 2, []),
    "always_503": (False, 3, ["backend.error"]),
    "no_message": (False, 1, ["backend.error"]),
}


def success_body(protocol: str, kind: str, value: str) -> bytes:
    if protocol == "ollama":
        message: dict[str, Any] = {"role": "assistant", "content": value if kind == "text" else ""}
        if kind == "call":
            try:
                arguments: Any = json.loads(value)
            except ValueError:
                arguments = value  # Ollama sends objects; a truncated one can only arrive as a string
            message["tool_calls"] = [{"function": {"name": "notes_read", "arguments": arguments}}]
        return json.dumps({"model": "m", "message": message, "done": True}).encode()
    message = {"role": "assistant", "content": value if kind == "text" else None}
    if kind == "call":
        message["tool_calls"] = [
            {"id": "c1", "type": "function", "function": {"name": "notes_read", "arguments": value}}
        ]
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if kind == "call" else "stop"}
    return json.dumps({"object": "chat.completion", "model": "m", "choices": [choice]}).encode()


@pytest.fixture
def faulty_server() -> Iterator[Callable[[str], tuple[str, Counter]]]:
    """Starts a server for one protocol; returns its URL and the count of requests per case."""
    servers = []

    def start(protocol: str) -> tuple[str, Counter]:
        seen: Counter = Counter()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection between faults

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                case = body["messages"][-1]["content"]
                with lock:
                    seen[case] += 1
                    attempt = seen[case]
                script = SCRIPTS[case]
                action = script[min(attempt, len(script)) - 1]
                if action[0] == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                status, data = 200, b""
                if action[0] == "status":
                    status, data = action[1], json.dumps({"error": f"injected {action[1]}"}).encode()
                elif action[0] == "raw":
                    data = action[1]
                elif action[0] == "cut":
                    data = success_body(protocol, "call", GOOD_ARGUMENTS)
                else:
                    data = success_body(protocol, action[0], action[1])
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if action[0] == "cut":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(data)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}", seen

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def cases():
    raw = [
        {"id": name, "question": name, "tags": [], "system": "", "expected_tools": ["notes_read"]} for name in SCRIPTS
    ]
    return list(parse_prompt_set(raw, "faults.json").cases)


@pytest.mark.parametrize("protocol", ["ollama", "openai"], ids=["ollama-protocol", "openai-protocol"])
def test_faults_become_scored_failures_or_retries(protocol, faulty_server, tmp_path):
    url, seen = faulty_server(protocol)
    if protocol == "ollama":
        factory = lambda: OllamaClient(OllamaConfig(host=url, model="m", timeout_s=5))  # noqa: E731
    else:
        factory = lambda: lmstudio_client(LMStudioConfig(host=url, model="m", timeout_s=5))  # noqa: E731
    settings = RunSettings(concurrency=4, retries=2, backoff_s=0.01, progress=False)
    records = run_cases(cases(), factory, Scorer(CATALOG), tmp_path, settings=settings)

    on_disk = read_records(tmp_path / RECORDS_FILE)
    assert sorted(record["id"] for record in on_disk) == sorted(SCRIPTS)  # each case exactly once
    by_id = {record["id"]: record for record in records}
    for case, (passed, attempts, codes) in EXPECTED.items():
        record = by_id[case]
        got = (record["passed"], record["attempts"], [reason["code"] for reason in record["reasons"]])
        assert got == (passed, attempts, codes), case
        assert seen[case] == attempts, case
        assert all(reason["message"] for reason in record["reasons"]), case
    assert "not JSON" in by_id["malformed_json_body"]["reasons"][0]["message"]
    assert "HTTP 503" in by_id["always_503"]["reasons"][0]["message"]
    assert by_id["truncated_arguments"]["calls"][0]["raw_arguments"] == '{"filePath": "a.m'
