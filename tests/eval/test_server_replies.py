"""The openai backend on replies recorded from llama.cpp's ``llama-server --jinja`` and from vLLM (their parsed
``tool_calls``, and what they send back as text).

llama-server needs a C++ build, too slow for the suite (bench/bench_eval.py builds it), and vLLM a venv of its
own, so their recorded replies (tests/eval/llama_server_replies.json and vllm_replies.json, which say how they
were made) are served from 127.0.0.1 as they came.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from toolset_eval.backend_config import OpenAIConfig
from toolset_eval.plugin import openai_client
from toolset_eval.prompts import load_prompt_set
from toolset_eval.runner import RunSettings, run_cases
from toolset_eval.scoring import Scorer


def recorded(name: str) -> dict[str, Any]:
    return json.loads((Path(__file__).with_name(f"{name}_replies.json")).read_text(encoding="utf-8"))["replies"]


REPLIES = recorded("llama_server")
VLLM_REPLIES = recorded("vllm")


@pytest.fixture
def replaying_server(request) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Answers each chat request with the recorded reply (``REPLIES``, or the replies the test is parametrized
    with) of the case whose question it asks."""
    replies = getattr(request, "param", REPLIES)
    cases = {case.id: case for case in load_prompt_set("claudesidian-smoke").cases}
    by_question = {cases[case_id].question: reply for case_id, reply in replies.items()}
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
            data = json.dumps(by_question[question]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", bodies
    httpd.shutdown()
    httpd.server_close()


def run_replayed(url: str, replies: dict[str, Any], out: Path, max_tokens: int) -> dict[str, dict[str, Any]]:
    """The smoke cases that ``replies`` has, run through the openai backend against ``url``: records by id."""
    from toolset.plugins import get_registries

    component = get_registries().toolsets.get("claudesidian")
    scorer = Scorer(component.factory(component.default_config()))
    cases = [case for case in load_prompt_set("claudesidian-smoke").cases if case.id in replies]
    config = OpenAIConfig(host=url, model="smollm2-135m", max_tokens=max_tokens)
    settings = RunSettings(concurrency=2, progress=False, offer_tools="expected")
    return {r["id"]: r for r in run_cases(cases, lambda: openai_client(config), scorer, out, settings=settings)}


def test_llama_server_tool_calls_are_read_and_scored(replaying_server, tmp_path):
    url, bodies = replaying_server
    records = run_replayed(url, REPLIES, tmp_path, max_tokens=128)

    assert len(bodies) == 3
    assert all(body["temperature"] == 0 and body["seed"] == 0 and body["max_tokens"] == 128 for body in bodies)
    # one complete call: content "" beside tool_calls, arguments a JSON string, an id of llama-server's own
    single = records["coverage_vaultManager_deleteFolder"]
    assert single["passed"], single["reasons"]
    assert single["parse"]["style"] == "native" and single["raw"]["content"] is None
    assert [call["name"] for call in single["calls"]] == ["vaultManager_deleteFolder"]
    assert single["calls"][0]["arguments"]["path"] == "Projects/Atlas"
    assert single["raw"]["tool_calls"][0]["id"] == "d6V48Ab7Vm1pZ7iwOkNLOTFd4rXlRnIP"

    # cut off by max_tokens inside a third call: llama-server still returns it, arguments half written
    cut = records["multistep_agentManager_listModels__commandManager_executeCommand"]
    codes = [reason["code"] for reason in cut["reasons"]]
    assert not cut["passed"] and cut["parse"]["error"] == "parse.invalid_json"
    assert "call.extra_call" in codes
    assert [call["name"] for call in cut["calls"]] == [
        "agentManager_listModels",
        "commandManager_executeCommand",
        "commandManager_executeCommand",
    ]
    assert "raw_arguments" in cut["calls"][2] and "raw_arguments" not in cut["calls"][1]

    # a plain answer with no tool_calls key: read as text, right for an irrelevance case
    plain = records["irrelevance_00"]
    assert plain["passed"] and plain["raw"]["content"] == "The capital of Australia is Canberra."
    assert plain["raw"]["tool_calls"] == []


@pytest.mark.parametrize("replaying_server", [VLLM_REPLIES], indirect=True)
def test_vllm_replies_are_read_and_scored(replaying_server, tmp_path):
    url, bodies = replaying_server
    records = run_replayed(url, VLLM_REPLIES, tmp_path, max_tokens=256)

    assert len(bodies) == 3
    # a call vLLM parsed: content "" beside tool_calls, finish_reason "stop", an id of vLLM's own; the arguments
    # (decoded under the tool's schema) lack the required context, which the scorer names
    single = records["coverage_vaultManager_deleteFolder"]
    assert single["parse"]["style"] == "native" and single["raw"]["content"] is None
    assert single["raw"]["tool_calls"][0]["id"].startswith("chatcmpl-tool-")
    assert [call["name"] for call in single["calls"]] == ["vaultManager_deleteFolder"]
    assert single["calls"][0]["arguments"] == {"path": "Projects/Atlas"}
    assert not single["passed"]
    assert {reason["code"] for reason in single["reasons"]} == {"schema.missing_required", "context.missing"}

    # a <tool_call> the model began and max_tokens cut off: vLLM sends it as text, with no tool_calls key;
    # the backend reads the text as a Hermes call and scores a parse failure, not a crash
    cut = records["multistep_agentManager_listModels__commandManager_executeCommand"]
    assert cut["raw"]["tool_calls"] == [] and cut["raw"]["content"].startswith("<tool_call>")
    assert cut["raw"]["payload"]["choices"][0]["finish_reason"] == "length"
    assert not cut["passed"] and cut["parse"]["style"] == "hermes" and cut["parse"]["error"] == "parse.unclosed_tag"

    plain = records["irrelevance_00"]
    assert plain["passed"] and plain["raw"]["content"] == "The capital of Australia is Canberra."
