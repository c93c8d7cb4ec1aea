"""Reports: JSON / Markdown / PNG from records, percentiles, comparison of two runs."""

from __future__ import annotations

import json

from toolset_eval.reports import (
    CHART_PNG,
    build_report,
    compare_reports,
    load_report,
    percentile,
    render_comparison,
    write_reports,
)

META = {"backend": "ollama", "model": "m", "prompt_set": "s", "sampling": {"seed": 0}, "toolset": "claudesidian"}


def record(case_id, tool, passed, latency, reasons=(), tags=("t",)):
    return {
        "id": case_id,
        "tags": list(tags),
        "agents": [tool.split("_")[0]] if tool else ["none"],
        "expected_tools": [tool] if tool else [],
        "passed": passed,
        "reasons": [{"code": code, "message": code} for code in reasons],
        "notes": [],
        "latency_s": latency,
        "raw": {"content": "x"},
    }


RECORDS = [
    record("a", "vault_read", True, 1.0),
    record("b", "vault_read", False, 2.0, ["value.mismatch"]),
    record("c", "memory_load", False, 3.0, ["value.mismatch", "context.session_mismatch"]),
    record("d", None, True, 4.0, tags=("irrelevance",)),
]


def test_percentiles():
    assert percentile([], 50) is None
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 3.85


def test_report_breakdowns_and_files(tmp_path):
    report = build_report(RECORDS, META)
    assert report["summary"]["accuracy"] == 0.5 and report["summary"]["latency_p50_s"] == 2.5
    assert report["by_tool"]["vault_read"] == {"passed": 1, "total": 2, "accuracy": 0.5}
    assert report["by_agent"]["memory"]["accuracy"] == 0 and report["by_agent"]["none"]["accuracy"] == 1
    assert report["by_tag"]["irrelevance"]["total"] == 1
    assert report["failure_reasons"][0] == {"code": "value.mismatch", "count": 2}
    paths = write_reports(report, tmp_path)
    assert [path.name for path in paths] == ["report.json", "report.md", CHART_PNG]
    assert json.loads(paths[0].read_text())["records"][0]["raw"] == {"content": "x"}
    markdown = paths[1].read_text()
    assert "**Accuracy 50.0%** (2/4 cases)" in markdown and "| `value.mismatch` | 2 |" in markdown
    from PIL import Image

    with Image.open(tmp_path / CHART_PNG) as image:
        assert image.format == "PNG" and image.size[0] > 100
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_compare_shows_regressions_and_gains(tmp_path):
    before = build_report(RECORDS, META)
    after_records = [
        record("a", "vault_read", False, 1.0, ["call.wrong_tool"]),
        record("b", "vault_read", False, 2.0, ["value.mismatch"]),
        record("c", "memory_load", True, 3.0),
        record("d", None, True, 4.0),
    ]
    write_reports(build_report(after_records, META), tmp_path)
    comparison = compare_reports(before, load_report(tmp_path))
    assert [row["tool"] for row in comparison["regressions"]] == ["vault_read"]
    assert [row["tool"] for row in comparison["gains"]] == ["memory_load"]
    lines = render_comparison(comparison)
    assert lines[0] == "overall: 50.0% -> 50.0% (+0.0%)"
    assert "  vault_read: 50.0% -> 0.0% (-50.0%)" in lines
