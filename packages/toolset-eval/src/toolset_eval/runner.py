"""Run a prompt set against a backend: concurrent requests, retries, one JSONL record per finished case.

Records are appended (flushed and fsynced) by the calling thread as cases finish, so an interrupted run
loses nothing that was written and ``resume=True`` skips exactly the cases already answered. Cases that got no
answer (the backend failed after its retries: server down, timeouts) are asked again on resume, their old
records dropped from the file. A trailing half-written line (a crash mid-write) is cut off on resume.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import attrs

from toolset.components import ChatResponse
from toolset.data.formatters import offered_tools
from toolset.errors import ToolsetError
from toolset_eval.errors import BackendConnectionError, BackendError, BackendResponseError, BackendTimeoutError
from toolset_eval.prompts import PromptCase
from toolset_eval.scoring import Reason, Scorer, ladder

RECORDS_FILE = "records.jsonl"


class RunError(ToolsetError):
    """The run cannot start (output exists without --resume, unreadable records)."""


@attrs.define(kw_only=True)
class RunSettings:
    """``retries``: extra attempts after a retryable error, waiting ``backoff_s * 2**attempt`` in between."""

    concurrency: int = 4
    retries: int = 3
    backoff_s: float = 0.5
    sampling: dict[str, Any] = attrs.Factory(dict)
    progress: bool = True
    # The tool offer: all | expected (the case's expected tools) | distractors (those plus ``distractors`` other
    # tools, drawn per case) | none. Match the model's training offer (toolset.data.formatters.EVAL_OFFER).
    offer_tools: str = "all"
    distractors: int = 3


def retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts and 5xx answers are worth another try; other errors are not."""
    if isinstance(exc, BackendConnectionError | BackendTimeoutError):
        return True
    return isinstance(exc, BackendResponseError) and exc.status is not None and exc.status >= 500


def read_records(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The complete records of a JSONL file; with ``repair`` a half-written last line is cut off."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete_end = data.rfind(b"\n") + 1
    if repair and complete_end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(complete_end)
    records = []
    for number, line in enumerate(data[:complete_end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise RunError(f"{path}:{number}: not a JSON record ({exc.msg}); remove the line or start afresh") from None
    return records


def unanswered(record: dict[str, Any]) -> bool:
    """The backend gave no answer for this case (its one reason is ``backend.error``)."""
    return record.get("raw") is None and any(reason.get("code") == "backend.error" for reason in record["reasons"])


def _drop_unanswered(path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` without the unanswered ones; the file is rewritten (atomically) if any were dropped."""
    from toolset.runs.storage import atomic_file

    kept = [record for record in records if not unanswered(record)]
    if len(kept) < len(records):
        with atomic_file(path) as handle:
            handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in kept)
    return kept


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def evaluate_case(
    case: PromptCase,
    client: Any,
    scorer: Scorer,
    tools: list[dict[str, Any]],
    settings: RunSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Ask the backend (with retries) and score the answer; a backend that never answers is a scored failure."""
    attempts = 0
    started = time.perf_counter()
    response: ChatResponse | None = None
    error: BackendError | None = None
    while True:
        attempts += 1
        attempt_started = time.perf_counter()
        try:
            response = client.chat(case.messages(), tools, **settings.sampling)
            break
        except BackendError as exc:
            error = exc
            if not retryable(exc) or attempts > settings.retries:
                break
            sleep(settings.backoff_s * 2 ** (attempts - 1))
    latency = time.perf_counter() - (attempt_started if response is not None else started)
    record: dict[str, Any] = {
        "id": case.id,
        "tags": list(case.tags),
        "agents": case.agents,
        "expected_tools": list(case.expected_tools),
        "attempts": attempts,
        "latency_s": round(latency, 4),
    }
    if response is None:
        reason = Reason("backend.error", str(error))
        record.update(passed=False, reasons=[reason.to_dict()], notes=[], calls=[], parse=None, raw=None)
        record["ladder"] = ladder([reason.code])
        return record
    parsed, score = scorer.score(case, response)
    record.update(
        passed=score.passed,
        ladder=ladder(reason.code for reason in score.reasons),
        reasons=[reason.to_dict() for reason in score.reasons],
        notes=[note.to_dict() for note in score.notes],
        calls=[
            {"name": call.name, "arguments": call.arguments}
            | ({"raw_arguments": call.raw_arguments} if call.raw_arguments is not None else {})
            for call in parsed.calls
        ],
        parse={"style": parsed.style, "error": parsed.error, "detail": parsed.detail},
        raw=_jsonable({"content": response.content, "tool_calls": response.tool_calls, "payload": response.raw}),
        model=response.model,
    )
    return _jsonable(record)


def run_cases(
    cases: Iterable[PromptCase],
    client_factory: Callable[[], Any],
    scorer: Scorer,
    output: Path,
    *,
    settings: RunSettings | None = None,
    resume: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate ``cases`` into ``output/records.jsonl``; returns every record of the run (old ones first).

    ``client_factory`` makes one backend client per worker thread. ``on_record`` runs after each record is
    written; an exception from it stops the run (queued cases are cancelled) and propagates.
    """
    settings = settings or RunSettings()
    output.mkdir(parents=True, exist_ok=True)
    path = output / RECORDS_FILE
    if path.exists() and path.stat().st_size and not resume:
        raise RunError(f"{path} already holds records: pass --resume to continue that run, or another --output")
    done = _drop_unanswered(path, read_records(path, repair=True))  # resumed: ask those again
    done_ids = {record["id"] for record in done}
    todo = [case for case in cases if case.id not in done_ids]
    tools = scorer.catalog.to_openai()
    local = threading.local()
    clients: list[Any] = []
    lock = threading.Lock()

    def client() -> Any:
        if not hasattr(local, "client"):
            local.client = client_factory()
            with lock:
                clients.append(local.client)
        return local.client

    def offered(case: PromptCase) -> list[dict[str, Any]]:
        if settings.offer_tools == "all":
            return tools
        policy = "used" if settings.offer_tools == "expected" else settings.offer_tools
        found = offered_tools(
            scorer.catalog, case.expected_tools, policy, distractors=settings.distractors, key=case.id
        )
        return found or []

    def work(case: PromptCase) -> dict[str, Any]:
        return evaluate_case(case, client(), scorer, offered(case), settings)

    records = list(done)
    progress = _progress(len(done) + len(todo), len(done), settings.progress)
    executor = ThreadPoolExecutor(max_workers=max(1, settings.concurrency), thread_name_prefix="toolset-eval")
    try:
        with open(path, "a", encoding="utf-8") as handle:
            pending: set[Future] = {executor.submit(work, case) for case in todo}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record = future.result()
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                    records.append(record)
                    progress.update(1)
                    if on_record is not None:
                        on_record(record)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        progress.close()
        for made in clients:
            close = getattr(made, "close", None)
            if callable(close):
                close()
    return records


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="case", desc="eval", disable=not enabled, leave=False)


def sampling_of(config: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling parameters a run uses: the backend config's, then the run's overrides."""
    from toolset_eval.sampling import SAMPLING_KEYS

    values = {key: getattr(config, key) for key in SAMPLING_KEYS if getattr(config, key, None) is not None}
    return {**values, **overrides}
