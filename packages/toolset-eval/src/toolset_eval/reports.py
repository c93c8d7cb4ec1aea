"""Reports of a run: JSON (metadata, summary, breakdowns, records), Markdown, a PNG chart; comparing two runs."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from toolset.errors import ToolsetError
from toolset.storage import atomic_file

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CHART_PNG = "accuracy_by_agent.png"


class ReportError(ToolsetError):
    """A report file is missing or is not a toolset eval report."""


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100); ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _accuracy(records: Iterable[Mapping[str, Any]], keys_of: Any) -> dict[str, dict[str, Any]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        for key in keys_of(record):
            counts[key][0] += bool(record["passed"])
            counts[key][1] += 1
    return {
        key: {"passed": passed, "total": total, "accuracy": passed / total}
        for key, (passed, total) in sorted(counts.items())
    }


def build_report(records: list[dict[str, Any]], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The report object: metadata, summary, accuracy per tool / agent / tag, ranked reasons, latency."""
    total = len(records)
    passed = sum(bool(record["passed"]) for record in records)
    latencies = [record["latency_s"] for record in records if record.get("latency_s") is not None]
    reasons = Counter(reason["code"] for record in records for reason in record["reasons"])
    notes = Counter(note["code"] for record in records for note in record.get("notes", []))
    return {
        "format": "toolset-eval-report/1",
        "metadata": dict(metadata),
        "summary": {
            "cases": total,
            "passed": passed,
            "failed": total - passed,
            "accuracy": passed / total if total else 0.0,
            "latency_p50_s": percentile(latencies, 50),
            "latency_p95_s": percentile(latencies, 95),
        },
        "by_tool": _accuracy(records, lambda r: r["expected_tools"] or ["(no call)"]),
        "by_agent": _accuracy(records, lambda r: r["agents"]),
        "by_tag": _accuracy(records, lambda r: r["tags"]),
        "failure_reasons": [{"code": code, "count": count} for code, count in reasons.most_common()],
        "notes": [{"code": code, "count": count} for code, count in notes.most_common()],
        "records": sorted(records, key=lambda r: r["id"]),
    }


def render_markdown(report: Mapping[str, Any]) -> str:
    meta, summary = report["metadata"], report["summary"]
    lines = [
        f"# Evaluation: {meta.get('model') or '?'} on {meta.get('prompt_set')}",
        "",
        f"Backend `{meta.get('backend')}`, tool set `{meta.get('toolset')}` {meta.get('toolset_version') or ''}, "
        f"{meta.get('date')}; sampling {json.dumps(meta.get('sampling', {}))}.",
        "",
        f"**Accuracy {summary['accuracy']:.1%}** ({summary['passed']}/{summary['cases']} cases); latency p50 "
        f"{_seconds(summary['latency_p50_s'])}, p95 {_seconds(summary['latency_p95_s'])}.",
    ]
    for title, key in (("agent", "by_agent"), ("tool", "by_tool"), ("tag", "by_tag")):
        lines += [
            "",
            f"## Accuracy per {title}",
            "",
            f"| {title} | passed | total | accuracy |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {name} | {row['passed']} | {row['total']} | {row['accuracy']:.1%} |"
            for name, row in report[key].items()
        ]
    lines += ["", "## Failure reasons", ""]
    if report["failure_reasons"]:
        lines += ["| reason | count |", "| --- | ---: |"]
        lines += [f"| `{row['code']}` | {row['count']} |" for row in report["failure_reasons"]]
    else:
        lines.append("None.")
    failed = [record for record in report["records"] if not record["passed"]]
    if failed:
        lines += ["", "## Failed cases", ""]
        for record in failed:
            shown = "; ".join(f"`{r['code']}` {r['message']}" for r in record["reasons"][:3])
            lines.append(f"- **{record['id']}**: {shown.replace(chr(10), ' ')}")
    return "\n".join(lines) + "\n"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def write_chart(report: Mapping[str, Any], path: Path) -> Path:
    """A bar chart of accuracy per agent (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    agents = list(report["by_agent"])
    values = [report["by_agent"][agent]["accuracy"] * 100 for agent in agents]
    figure = Figure(figsize=(max(4.0, 1.1 * len(agents) + 2), 4), dpi=100)
    axes = figure.subplots()
    bars = axes.bar(agents, values, color="#4c72b0")
    axes.bar_label(bars, labels=[f"{v:.0f}%" for v in values], padding=2)
    axes.set_ylim(0, 110)
    axes.set_ylabel("accuracy (%)")
    meta = report["metadata"]
    axes.set_title(f"{meta.get('model') or '?'} on {meta.get('prompt_set')}", fontsize=10)
    axes.tick_params(axis="x", labelrotation=30)
    figure.tight_layout()
    with atomic_file(path, "wb", encoding=None) as handle:
        figure.savefig(handle, format="png")
    return path


def write_reports(report: Mapping[str, Any], directory: Path) -> list[Path]:
    """``report.json``, ``report.md`` and the PNG chart in ``directory``."""
    json_path, md_path = directory / REPORT_JSON, directory / REPORT_MD
    with atomic_file(json_path) as handle:
        handle.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    with atomic_file(md_path) as handle:
        handle.write(render_markdown(report))
    return [json_path, md_path, write_chart(report, directory / CHART_PNG)]


def load_report(path: Path) -> dict[str, Any]:
    """A report from its JSON file or from the run directory holding it."""
    file = path / REPORT_JSON if path.is_dir() else path
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{file}: no such report (run `toolset eval run` first)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{file}: not a JSON report ({exc})") from None
    if not isinstance(report, dict) or "summary" not in report or "by_tool" not in report:
        raise ReportError(f"{file}: not a toolset eval report (no 'summary' / 'by_tool')")
    return report


def compare_reports(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Accuracy changes per tool and overall: ``regressions`` (worse), ``gains`` (better), ``unchanged``."""
    rows = []
    for tool in sorted(set(before["by_tool"]) | set(after["by_tool"])):
        old, new = before["by_tool"].get(tool), after["by_tool"].get(tool)
        old_accuracy = old["accuracy"] if old else None
        new_accuracy = new["accuracy"] if new else None
        delta = None if old is None or new is None else new_accuracy - old_accuracy
        rows.append({"tool": tool, "before": old_accuracy, "after": new_accuracy, "delta": delta})
    overall = after["summary"]["accuracy"] - before["summary"]["accuracy"]
    return {
        "overall": {"before": before["summary"]["accuracy"], "after": after["summary"]["accuracy"], "delta": overall},
        "regressions": [row for row in rows if row["delta"] is not None and row["delta"] < 0],
        "gains": [row for row in rows if row["delta"] is not None and row["delta"] > 0],
        "unchanged": [row for row in rows if row["delta"] == 0],
        "only_in_one": [row for row in rows if row["delta"] is None],
    }


def render_comparison(comparison: Mapping[str, Any]) -> list[str]:
    overall = comparison["overall"]
    lines = [f"overall: {overall['before']:.1%} -> {overall['after']:.1%} ({overall['delta']:+.1%})"]
    for title in ("regressions", "gains"):
        rows = comparison[title]
        lines.append(f"{title}: {len(rows)}")
        lines += [f"  {r['tool']}: {r['before']:.1%} -> {r['after']:.1%} ({r['delta']:+.1%})" for r in rows]
    if comparison["only_in_one"]:
        lines.append("only in one report: " + ", ".join(row["tool"] for row in comparison["only_in_one"]))
    return lines
