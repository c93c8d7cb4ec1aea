"""The quickstart summary's loss line (no training: the whole pipeline is in test_quickstart.py)."""

from __future__ import annotations

import pytest

from toolset.runs.quickstart import loss_change


def rows(*losses: float, every: int = 4) -> list[dict]:
    logged = [{"step": 1 + every * index, "loss": loss} for index, loss in enumerate(losses)]
    return [{"step": 0, "eval": "no loss here"}, *logged]


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ([], "no loss logged"),
        (rows(0.5), "loss 0.500 at step 1 -> 0.500 at step 1"),
        (rows(2.015, 2.38, 2.2, 2.19), "loss 2.015 at step 1 -> 2.190 at step 13"),
        # the last value alone is above the first, but the loss fell: the quarters' means show it
        (
            rows(2.0, 2.4, 2.2, 2.2, 1.8, 1.6, 1.5, 2.1),
            "loss 2.200 -> 1.800 (82% of the start), means of the first and last 2 logged values",
        ),
        (rows(*[3.0] * 16, 1.0), "loss 3.000 -> 2.500 (83% of the start), means of the first and last 4 logged values"),
    ],
)
def test_loss_change(metrics, expected):
    assert loss_change(metrics) == expected


def _write(output, label, codes_per_case):
    import json

    from toolset_eval.reports import build_report

    records = [
        {
            "id": f"c{index}",
            "agents": [agent],
            "expected_tools": [f"{agent}_x"],
            "tags": [],
            "passed": not codes,
            "reasons": [{"code": code, "message": code} for code in codes],
        }
        for index, (agent, codes) in enumerate(codes_per_case)
    ]
    folder = output / ("eval-base" if label == "base" else "eval")  # the pipeline's folders (eval.baseline)
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(build_report(records, {"prompt_set": "s"})))


def test_the_summary_says_what_training_changed_rung_by_rung(tmp_path):
    from toolset.runs.quickstart import improvement_lines

    _write(tmp_path, "base", [("vault", ["parse.no_tool_call"]), ("vault", ["parse.no_tool_call"]), ("none", [])])
    _write(tmp_path, "tuned", [("vault", ["call.unknown_tool"]), ("vault", []), ("none", [])])
    (tmp_path / "sft" / "logs").mkdir(parents=True)
    (tmp_path / "sft" / "logs" / "metrics.jsonl").write_text(
        "\n".join(f'{{"step": {s}, "loss": {2 - s / 10}}}' for s in range(1, 9))
    )
    lines = improvement_lines(tmp_path)
    assert lines[0] == "SFT loss 1.850 -> 1.250 (68% of the start), means of the first and last 2 logged values"
    words = [" ".join(line.split()) for line in lines]
    assert "made a call that parses (or rightly none) 1/3 -> 3/3 (+2)" in words
    assert "passed the whole case 1/3 -> 2/3 (+1)" in words
    assert "better on 6 of 6 rungs (call, tool, schema, context, values, pass)." in lines
    table = lines[lines.index("per agent, cases reaching each rung (base -> tuned):") + 1 :]
    assert table[0].split() == ["agent", "cases", "call", "tool", "schema", "context", "values", "pass"]
    assert table[2].split() == ["vault", "2", "0->2", "0->1", "0->1", "0->1", "0->1", "0->1"]


def test_reports_without_a_ladder_fall_back_to_accuracy_per_agent(tmp_path):
    import json

    from toolset.runs.quickstart import improvement_lines

    for folder in ("eval-base", "eval"):
        (tmp_path / folder).mkdir()
        report = {"summary": {"passed": 1, "cases": 2}, "by_agent": {"vault": {"passed": 1, "total": 2}}}
        (tmp_path / folder / "report.json").write_text(json.dumps(report))
    assert improvement_lines(tmp_path)[-1].split() == ["overall", "1/2", "1/2"]
