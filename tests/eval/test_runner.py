"""The runner end to end against the local Ollama-protocol server answering scripted tool calls."""

from __future__ import annotations

import collections
import json
import threading

import pytest

from toolset.components import ToolCatalog, ToolSpec
from toolset_eval.backend_config import OllamaConfig
from toolset_eval.ollama import OllamaClient
from toolset_eval.prompts import parse_prompt_set
from toolset_eval.runner import RECORDS_FILE, RunError, RunSettings, read_records, run_cases
from toolset_eval.scoring import Scorer

SESSION = "session_1764000000000_abcdefghi"
WORKSPACE = "ws_1764000000000_abcdefghi"
SCHEMA = {
    "type": "object",
    "properties": {"context": {"type": "object"}, "filePath": {"type": "string"}},
    "required": ["context", "filePath"],
    "additionalProperties": False,
}
CATALOG = ToolCatalog(
    name="notes", tools=[ToolSpec("notes_read", "Read a note.", SCHEMA), ToolSpec("notes_delete", "Delete.", SCHEMA)]
)
CONTEXT = {"sessionId": SESSION, "workspaceId": WORKSPACE}


def make_cases(count: int):
    raw = []
    for index in range(count):
        raw.append(
            {
                "id": f"case{index:02d}",
                "question": f"read note {index}" if index % 3 else f"trivia {index}",
                "tags": ["even" if index % 2 == 0 else "odd"],
                "system": f'- sessionId: "{SESSION}"',
                "expected_tools": ["notes_read"] if index % 3 else [],
                "expected_args": {"notes_read": {"filePath": f"n{index}.md"}} if index % 3 else {},
                "expected_context": {"session_id": SESSION, "workspace_id": WORKSPACE},
            }
        )
    return list(parse_prompt_set(raw, "cases.json").cases)


def answer(question: str):
    """Correct for 'read note N' unless N is 4 (wrong file); 'trivia' gets text, except 6 (a call)."""
    number = int(question.split()[-1])
    if question.startswith("trivia"):
        return [("notes_delete", {"context": CONTEXT, "filePath": "x.md"})] if number == 6 else "No tool needed."
    return [("notes_read", {"context": CONTEXT, "filePath": f"n{99 if number == 4 else number}.md"})]


def factory(server, **config):
    return lambda: OllamaClient(OllamaConfig(host=server.url, model="scripted", **config))


def questions_asked(server) -> collections.Counter:
    return collections.Counter(r.body["messages"][-1]["content"] for r in server.requests if r.path == "/api/chat")


def test_run_scores_every_case_and_writes_records(ollama_server, scripted_chat, tmp_path):
    ollama_server.replies["/api/chat"] = scripted_chat(answer)
    settings = RunSettings(concurrency=3, sampling={"seed": 7}, progress=False)
    records = run_cases(make_cases(9), factory(ollama_server), Scorer(CATALOG), tmp_path, settings=settings)
    by_id = {record["id"]: record for record in records}
    assert len(records) == 9 == len(read_records(tmp_path / RECORDS_FILE))
    failed = {record_id for record_id, record in by_id.items() if not record["passed"]}
    assert failed == {"case04", "case06"}
    assert [r["code"] for r in by_id["case04"]["reasons"]] == ["value.mismatch"]
    assert [r["code"] for r in by_id["case06"]["reasons"]] == ["call.unexpected"]
    assert by_id["case01"]["calls"] == [{"name": "notes_read", "arguments": {"context": CONTEXT, "filePath": "n1.md"}}]
    assert by_id["case01"]["raw"]["payload"]["model"] == "scripted" and by_id["case01"]["latency_s"] >= 0
    assert by_id["case00"]["raw"]["content"] == "No tool needed."
    bodies = [r.body for r in ollama_server.requests if r.path == "/api/chat"]
    assert all(body["options"]["seed"] == 7 and body["options"]["temperature"] == 0 for body in bodies)
    assert all(len(body["tools"]) == 2 for body in bodies)


def test_5xx_answers_are_retried_with_backoff(ollama_server, scripted_chat, tmp_path):
    seen: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def flaky(question: str):
        with lock:
            seen[question] += 1
            first = seen[question] == 1
        return 500 if first else answer(question)

    ollama_server.replies["/api/chat"] = scripted_chat(flaky)
    settings = RunSettings(concurrency=2, backoff_s=0.01, progress=False)
    records = run_cases(make_cases(4), factory(ollama_server), Scorer(CATALOG), tmp_path, settings=settings)
    assert [record["attempts"] for record in records] == [2, 2, 2, 2]
    assert all(record["passed"] for record in records)


def test_client_errors_are_not_retried_and_score_as_backend_errors(ollama_server, scripted_chat, tmp_path):
    ollama_server.replies["/api/chat"] = scripted_chat(lambda question: 400)
    settings = RunSettings(concurrency=2, backoff_s=0.01, progress=False)
    records = run_cases(make_cases(2), factory(ollama_server), Scorer(CATALOG), tmp_path, settings=settings)
    assert [record["attempts"] for record in records] == [1, 1]
    assert {record["reasons"][0]["code"] for record in records} == {"backend.error"}
    assert "HTTP 400" in records[0]["reasons"][0]["message"]


def test_timeouts_are_retried_then_scored(ollama_server, scripted_chat, tmp_path):
    ollama_server.replies["/api/chat"] = scripted_chat(answer)
    ollama_server.delay_s = 0.6
    settings = RunSettings(concurrency=2, retries=1, backoff_s=0.01, progress=False)
    client_factory = factory(ollama_server, timeout_s=0.15)
    records = run_cases(make_cases(2), client_factory, Scorer(CATALOG), tmp_path, settings=settings)
    assert [record["attempts"] for record in records] == [2, 2]
    assert all("did not answer within 0.15 s" in record["reasons"][0]["message"] for record in records)


def test_interrupted_run_resumes_without_redoing_or_losing_a_case(ollama_server, scripted_chat, tmp_path):
    ollama_server.replies["/api/chat"] = scripted_chat(answer)
    cases = make_cases(12)
    written = []

    def stop_after_four(record):
        written.append(record["id"])
        if len(written) == 4:
            raise KeyboardInterrupt

    settings = RunSettings(concurrency=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_cases(
            cases, factory(ollama_server), Scorer(CATALOG), tmp_path, settings=settings, on_record=stop_after_four
        )
    first = read_records(tmp_path / RECORDS_FILE)
    assert [record["id"] for record in first] == written
    with open(tmp_path / RECORDS_FILE, "a") as handle:  # a crash in the middle of a write
        handle.write('{"id": "case11", "pass')
    with pytest.raises(RunError, match="--resume"):
        run_cases(cases, factory(ollama_server), Scorer(CATALOG), tmp_path, settings=settings)
    asked_before = questions_asked(ollama_server)
    records = run_cases(cases, factory(ollama_server), Scorer(CATALOG), tmp_path, settings=settings, resume=True)
    on_disk = read_records(tmp_path / RECORDS_FILE)
    assert sorted(record["id"] for record in records) == sorted(case.id for case in cases)
    assert sorted(record["id"] for record in on_disk) == sorted(case.id for case in cases)
    asked_after = questions_asked(ollama_server) - asked_before
    done_questions = {case.question for case in cases if case.id in set(written)}
    assert not done_questions & set(asked_after)
    assert all(line.strip() for line in (tmp_path / RECORDS_FILE).read_text().splitlines())
    assert json.loads((tmp_path / RECORDS_FILE).read_text().splitlines()[-1])["id"] in {c.id for c in cases}


def test_requests_run_concurrently(ollama_server, scripted_chat, tmp_path):
    import time

    ollama_server.replies["/api/chat"] = scripted_chat(answer)
    ollama_server.delay_s = 0.3
    settings = RunSettings(concurrency=4, progress=False)
    started = time.perf_counter()
    records = run_cases(make_cases(8), factory(ollama_server), Scorer(CATALOG), tmp_path, settings=settings)
    elapsed = time.perf_counter() - started
    assert len(records) == 8
    assert elapsed < 8 * 0.3 * 0.6  # serial would take 2.4 s; four at a time about 0.6 s
    assert all(record["latency_s"] >= 0.3 for record in records)
