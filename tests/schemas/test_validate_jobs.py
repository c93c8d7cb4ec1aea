"""`validate --jobs N`: a file split into spans checked in forked processes gives the one-process report."""

from __future__ import annotations

import json
import os

import pytest

from toolset_schemas import validator as module
from toolset_schemas.validator import choose_jobs, split_lines, validate_files

from .test_validate_cli import record, validate

pytest.importorskip(
    "toolset.data.readers", reason="the core conversation reader (toolset.data.readers) is not there yet"
)


@pytest.fixture
def forked(monkeypatch):
    """Counts the files validated in forked spans (the tests must not quietly fall back to one process).

    Threads left by earlier tests (a tqdm monitor, a server) would turn forking off: these tests fork anyway.
    """
    monkeypatch.setattr(module, "can_fork", lambda: True)
    calls = []
    original = module._validate_forked

    def spy(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_validate_forked", spy)
    return calls


def messy_file(tmp_path, copies=40):
    """Valid and invalid calls, KTO labels and every line-level mess the reader reports, spread over the file."""
    lines = [b"\xef\xbb\xbf" + record().encode()]
    for index in range(copies):
        lines += [
            record().encode(),
            record(label=False, path=7).encode(),  # an expected (label=false) wrong type
            record("vaultManager_createFolderr").encode(),  # unknown tool
            record(label=True, path="A", colour="red").encode() + b"\r",  # unexpected parameter, CRLF
            b"",  # blank
            b'{"conversations": [' if index % 7 == 0 else b"[1, 2]",  # invalid JSON / not an object
            record().encode().replace(b"Make a", b"Make \xff a") if index % 5 == 0 else record().encode(),
        ]
    path = tmp_path / "messy.jsonl"
    path.write_bytes(b"\n".join(lines))  # no final newline
    return path


@pytest.mark.parametrize("jobs", [2, 3, 4, 7])
def test_forked_report_is_the_single_process_report(tmp_path, forked, jobs):
    path = messy_file(tmp_path)
    single = validate_files([path], jobs=1).to_json()
    assert not forked
    split = validate_files([path], jobs=jobs).to_json()
    assert forked == [path]
    assert split == single
    codes = {f["code"] for f in single["findings"]}
    assert {"file.bom", "line.crlf", "line.blank", "json.invalid", "record.not_object"} <= codes
    assert {"encoding.invalid_utf8", "file.no_final_newline", "unknown-tool", "unexpected-parameter"} <= codes
    assert single["summary"]["kto"]["undesirable_with_errors"] == 40


def test_spans_cover_the_file_at_line_starts(tmp_path):
    path = messy_file(tmp_path, copies=9)
    data = path.read_bytes()
    for parts in (1, 2, 3, 5, 64, 1000):
        spans = split_lines(path, parts)
        assert 1 <= len(spans) <= parts
        assert spans[0][:1] == (0,) and spans[-1][1] is None
        for (start, stop, first_line), following in zip(spans, [*spans[1:], None], strict=True):
            assert start == 0 or data[start - 1 : start] == b"\n"
            assert first_line == data[:start].count(b"\n") + 1
            if following:
                assert stop == following[0] > start


def test_one_long_line_is_one_span(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(record() + "\n")
    assert split_lines(path, 4) == [(0, None, 1)]


def test_a_worker_that_fails_has_its_span_redone(tmp_path, forked, monkeypatch):
    path = messy_file(tmp_path)
    single = validate_files([path], jobs=1).to_json()
    parent, original = os.getpid(), module._validate_span

    def failing_in_workers(*args, **kwargs):
        if os.getpid() != parent:
            raise RuntimeError("worker failed")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_validate_span", failing_in_workers)
    assert validate_files([path], jobs=3).to_json() == single
    assert forked == [path]


def test_several_files_keep_their_order(tmp_path, forked):
    first = messy_file(tmp_path)
    second = tmp_path / "second.jsonl"
    second.write_text("\n".join([record("nope")] * 30 + [record()] * 30) + "\n")
    single = validate_files([first, second], jobs=1).to_json()
    assert validate_files([first, second], jobs=2).to_json() == single
    assert forked == [first, second]


def test_auto_jobs(monkeypatch):
    monkeypatch.setattr(module, "can_fork", lambda: True)  # whatever threads earlier tests left
    assert choose_jobs(None, 100_000) == 1  # small files: this process
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert choose_jobs(None, 64 << 20) == min(cpus, 4)
    assert choose_jobs(3, 10) == 3  # asked for: any size
    assert choose_jobs(1, 64 << 20) == 1


def test_no_fork_while_other_threads_run():
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not module.can_fork()
        assert choose_jobs(4, 64 << 20) == 1
    finally:
        stop.set()
        thread.join()


def test_cli_jobs(tmp_path, forked):
    path = messy_file(tmp_path)
    one = validate(path, "--json", "--jobs", "1")
    two = validate(path, "--json", "-j", "2")
    assert one.exit_code == two.exit_code == 1
    assert json.loads(one.output) == json.loads(two.output)
    assert forked == [path]
    bad = validate(path, "--jobs", "0")
    assert bad.exit_code == 2 and "--jobs" in bad.output


def test_upstream_sft_and_kto_reports_are_unchanged(upstream_data, forked):
    folders = [upstream_data / "Datasets" / "tools_datasets", upstream_data / "Datasets" / "behavior_datasets"]
    single = validate_files(folders, jobs=1).to_json()
    assert validate_files(folders, jobs=2).to_json() == single
    assert forked


def test_progress_bar_counts_the_whole_file(tmp_path, forked):
    path = messy_file(tmp_path)
    total = module.count_lines(path)
    spans = split_lines(path, 2)
    assert module.count_lines(path, stop=spans[1][0]) == spans[1][2] - 1
    result = validate(path, "--json", "--progress", "--jobs", "2")
    assert forked == [path]
    assert f"/{total} " in result.stderr  # the bar counts the whole file's lines
    assert json.loads(result.stdout)["summary"]["conversations"] > 0


def test_progress_of_the_first_span_advances_over_the_whole_file(tmp_path, monkeypatch):
    import io

    import tqdm

    from toolset.data.readers import read_conversations

    steps = []
    monkeypatch.setattr(tqdm.tqdm, "update", lambda self, n=1: steps.append(n))
    path = messy_file(tmp_path)
    half = module.count_lines(path, stop=split_lines(path, 2)[1][0])
    conversations = (c for c in read_conversations(path) if c.line <= half)
    assert list(module.with_progress(conversations, path, io.StringIO(), lines=half))
    assert sum(steps) == module.count_lines(path) and min(steps) >= 0
    assert len([step for step in steps if step]) > 50  # step by step, not one jump at the end
