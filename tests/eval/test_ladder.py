"""The ladder: which rungs an answer reached (parses, right tools, schema-valid, context ids, values, full pass),
in records, reports (JSON, Markdown, PNG), `eval compare` and its warnings."""

from __future__ import annotations

import json

import pytest

from toolset.components import ChatResponse
from toolset_eval.reports import (
    CHART_PNG,
    build_report,
    compare_reports,
    load_report,
    record_ladder,
    render_comparison,
    render_markdown,
    write_reports,
)
from toolset_eval.runner import RunSettings, run_cases
from toolset_eval.scoring import LADDER, REASONS, Scorer, ladder, rung_broken

from .test_runner import CATALOG, CONTEXT, make_cases


@pytest.mark.parametrize(
    ("code", "rung"),
    [
        ("parse.invalid_json", "call"),
        ("parse.unclosed_tag", "call"),
        ("parse.no_tool_call", "call"),
        ("behavior.no_tool_call", "call"),
        ("backend.error", "call"),
        ("schema.arguments_not_json", "call"),
        ("call.wrong_tool", "tool"),
        ("call.unknown_tool", "tool"),
        ("call.unexpected", "tool"),
        ("behavior.does_not_call_tool", "tool"),
        ("schema.missing_required", "schema"),
        ("schema.wrong_type", "schema"),
        ("schema.session_mismatch", "context"),
        ("schema.bad_id_format", "context"),
        ("context.workspace_mismatch", "context"),
        ("value.mismatch", "values"),
        ("behavior.asks_for_user_input", "pass"),
        ("response_type.mismatch", "pass"),
    ],
)
def test_each_reason_breaks_one_rung(code, rung):
    assert rung_broken(code) == rung


def test_every_reason_code_has_a_rung():
    assert {rung_broken(code) for code in REASONS} == set(LADDER)


def test_the_ladder_is_cumulative():
    assert ladder([]) == dict.fromkeys(LADDER, True)
    reached = ladder(["value.mismatch", "schema.wrong_type"])
    assert reached == {"call": True, "tool": True, "schema": False, "context": False, "values": False, "pass": False}
    assert ladder(["behavior.asks_for_user_input"]) == {**dict.fromkeys(LADDER, True), "pass": False}
    assert not any(ladder(["parse.invalid_json", "value.mismatch"]).values())


class Scripted:
    """Answers by question: a correct call, a wrong file, prose, broken JSON, or text for trivia."""

    def chat(self, messages, tools=None, **options):
        question = messages[-1]["content"]
        number = int(question.split()[-1])
        if question.startswith("trivia"):
            return ChatResponse(content="No tool needed.")
        if number == 1:
            return ChatResponse(content="I would read it for you.")
        if number == 2:
            return ChatResponse(content='<tool_call>{"name": "notes_read", "arguments": {</tool_call>')
        call = {"context": CONTEXT, "filePath": f"n{99 if number == 4 else number}.md"}
        return ChatResponse(content=None, tool_calls=[{"name": "notes_read", "arguments": json.dumps(call)}])

    def list_models(self):
        return ["scripted"]


def test_records_and_reports_carry_the_ladder(tmp_path):
    settings = RunSettings(concurrency=1, progress=False)
    records = run_cases(make_cases(6), Scripted, Scorer(CATALOG), tmp_path, settings=settings)
    by_id = {record["id"]: record["ladder"] for record in records}
    assert not by_id["case01"]["call"]  # prose where a call was expected
    assert not by_id["case02"]["call"]  # unparseable JSON
    assert by_id["case04"] == {**dict.fromkeys(LADDER, True), "values": False, "pass": False}  # wrong file
    assert all(by_id["case05"].values()) and all(by_id["case00"].values())  # correct call; trivia in text
    report = build_report(records, {"prompt_set": "cases", "model": "m"})
    overall = report["ladder"]["overall"]
    assert [overall[rung]["passed"] for rung in LADDER] == [4, 4, 4, 4, 3, 3]
    assert overall["call"]["rate"] == pytest.approx(4 / 6)
    agent = report["ladder"]["by_agent"]["notes"]
    assert (agent["call"]["passed"], agent["call"]["total"], agent["pass"]["passed"]) == (2, 4, 1)
    markdown = render_markdown(report)
    assert "## The ladder: what the answers got right" in markdown
    assert "| values | expected values right | 3/6 | 50.0% |" in markdown
    assert "| notes | 50% | 50% | 50% | 50% | 25% | 25% |" in markdown
    paths = write_reports(report, tmp_path)
    from PIL import Image

    with Image.open(tmp_path / CHART_PNG) as image:
        assert image.format == "PNG" and image.size[0] > 500
    assert json.loads(paths[0].read_text())["ladder"] == report["ladder"]


def test_records_written_before_the_ladder_get_it_from_their_reasons():
    old = {"passed": False, "reasons": [{"code": "context.session_mismatch"}, {"code": "value.missing"}]}
    assert record_ladder(old) == {**dict.fromkeys(LADDER, True), "context": False, "values": False, "pass": False}
    report = build_report([{**old, "id": "a", "agents": ["x"], "expected_tools": ["x_y"], "tags": []}], {})
    del report["ladder"]  # a report.json of an older toolset-eval
    assert compare_reports(report, report)["ladder"][2] == {"rung": "schema", "before": 1.0, "after": 1.0, "delta": 0.0}


def _report(records, **metadata):
    return build_report(records, {"prompt_set": "cases", **metadata})


def _record(case_id, codes):
    return {
        "id": case_id,
        "agents": ["notes"],
        "expected_tools": ["notes_read"],
        "tags": [],
        "passed": not codes,
        "reasons": [{"code": code, "message": code} for code in codes],
    }


def test_compare_shows_each_rung_overall_and_per_agent(tmp_path):
    before = _report([_record("a", ["parse.no_tool_call"]), _record("b", ["call.unknown_tool"])])
    after = _report([_record("a", ["value.mismatch"]), _record("b", [])])
    write_reports(after, tmp_path)
    comparison = compare_reports(before, load_report(tmp_path))
    deltas = {row["rung"]: row["delta"] for row in comparison["ladder"]}
    assert deltas == {"call": 0.5, "tool": 1.0, "schema": 1.0, "context": 1.0, "values": 0.5, "pass": 0.5}
    assert comparison["ladder_by_agent"]["notes"][1] == {"rung": "tool", "before": 0.0, "after": 1.0, "delta": 1.0}
    lines = render_comparison(comparison)
    assert "  tool       0.0% -> 100.0% (+100.0%)" in lines
    assert not comparison["warnings"] and not any(line.startswith("warning") for line in lines)


def test_compare_warns_when_the_tool_offers_differ():
    before = _report([_record("a", [])], tools_offered="none", tools_trained="none")
    after = _report([_record("a", [])], tools_offered="all", tools_trained="distractors")
    warnings = compare_reports(before, after)["warnings"]
    assert any("tool offers differ: --tools none vs --tools all" in warning for warning in warnings)
    assert any(
        "after: the model was trained with tool offer 'distractors' and evaluated with 'all'" in w for w in warnings
    )
    assert render_comparison(compare_reports(before, after))[0].startswith("warning: the tool offers differ")
    other_set = _report([_record("a", [])], prompt_set="other")
    assert "the prompt sets differ: cases vs other" in compare_reports(before, other_set)["warnings"][0]
