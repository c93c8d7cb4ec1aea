"""bench/bench_results.py: its held-out check, its training-time bookkeeping and its tables."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_results.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_results", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_results"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_results", None)


def test_the_bench_trains_on_no_evaluation_case(bench, upstream_data, tmp_path):
    sft, kto, upstream_sets = bench.upstream_files()
    assert len(sft) == 4 and len(kto) == 10 and all(path.is_file() for path in upstream_sets)
    sets = [*bench.SHIPPED_SETS, *upstream_sets]
    assert bench.without_evaluation_cases(sft, sets, tmp_path) == (sft, 0)
    with pytest.raises(SystemExit, match="not held out"):  # ../shared's KTO parts hold behaviour questions
        bench.check_held_out(kto, sets)
    kept, removed = bench.without_evaluation_cases(kto, sets, tmp_path)
    assert removed == 34 and all(path.is_relative_to(tmp_path) for path in kept if path not in kto)
    assert sum(len(path.read_bytes().splitlines()) for path in kto) - removed == sum(
        len(path.read_bytes().splitlines()) for path in kept
    )
    assert bench.check_held_out([*sft, *kept], sets) == 47 + 5 + 8 + 44 + 51


def test_a_training_file_holding_an_evaluation_question_is_refused(bench, tmp_path):
    from toolset_eval.prompts import load_prompt_set

    case = load_prompt_set("claudesidian-coverage").cases[3]
    leaked = tmp_path / "leaked.jsonl"
    row = {"messages": [{"role": "user", "content": case.question}, {"role": "assistant", "content": "ok"}]}
    leaked.write_text(json.dumps(row) + "\n")
    with pytest.raises(SystemExit, match=case.id):
        bench.check_held_out([leaked], ["claudesidian-coverage"])


def test_a_stopped_and_resumed_training_counts_every_leg(bench, tmp_path, monkeypatch):
    from toolset_cuda import training

    run_dir = tmp_path / "sft"
    legs = [{"started": 1000.0, "ended": None}]  # a first leg that stopped after its checkpoint at 1040
    (run_dir / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    (run_dir / "bench_legs.json").write_text(json.dumps(legs))
    (run_dir / "lineage.json").write_text("{}")
    import os

    os.utime(run_dir / "checkpoints" / "checkpoint-10", (1040.0, 1040.0))
    calls = []

    def finish(method, config, *, run_dir, parent, resume):
        calls.append(resume)
        (run_dir / "final_model").mkdir()
        (run_dir / "final_model" / "toolset.json").write_text(json.dumps({"steps": 20}))

    monkeypatch.setattr(training, "train", finish)
    clock = iter([5000.0, 5030.0])
    monkeypatch.setattr(bench.time, "time", lambda: next(clock))
    path, steps, seconds = bench.train_stage("sft", None, run_dir)
    assert (path, steps, seconds, calls) == (run_dir, 20, 40.0 + 30.0, [True])
    assert bench.train_stage("sft", None, run_dir)[2] == 70.0  # finished: reused, not trained again


def test_the_tables_show_each_rung_per_set_and_the_pass_per_agent(bench):
    ladder = dict.fromkeys(bench.RUNGS, 0.5)
    result = {
        "meta": {"machine": "test machine", "date": "2026-12-05"},
        "rows": [
            {
                "model": "m",
                "method": "SFT",
                "data": "d",
                "tool_offer": "used",
                "steps": 10,
                "train_seconds": 90.0,
                "seed": 7,
                "sets": {"claudesidian-coverage": {"ladder": ladder, "by_agent": {"vaultManager": 0.25}}},
            }
        ],
    }
    text = bench.markdown(result)
    assert "| m | SFT | d | used | 10 | 1.5 min | 50% |" in text
    assert "| m | SFT (used) | 50% | 50% | 50% | 50% | 50% | 50% |" in text
    assert "| m | SFT (used) | 25% |" in text and "test machine; seed 7" in text
