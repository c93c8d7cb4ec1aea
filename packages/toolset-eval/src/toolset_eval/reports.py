"""Reports of a run: JSON (metadata, summary, breakdowns, records), Markdown, a PNG chart; comparing two runs."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_file
from toolset_eval.scoring import LADDER, ladder

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


def record_ladder(record: Mapping[str, Any]) -> dict[str, bool]:
    """The rungs a record reached: its own ``ladder``, or (records written before it existed) from its reasons."""
    found = record.get("ladder")
    if isinstance(found, Mapping) and all(rung in found for rung in LADDER):
        return {rung: bool(found[rung]) for rung in LADDER}
    return ladder(reason["code"] for reason in record.get("reasons", []))


def ladder_rates(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per rung: how many records reached it, of how many, and the rate."""
    reached = [record_ladder(record) for record in records]
    total = len(reached)
    return {
        rung: {
            "passed": (count := sum(row[rung] for row in reached)),
            "total": total,
            "rate": count / total if total else 0.0,
        }
        for rung in LADDER
    }


def _ladders(records: list[dict[str, Any]]) -> dict[str, Any]:
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        for agent in record["agents"]:
            by_agent[agent].append(record)
    return {
        "overall": ladder_rates(records),
        "by_agent": {agent: ladder_rates(rows) for agent, rows in sorted(by_agent.items())},
    }


def report_ladder(report: Mapping[str, Any]) -> dict[str, Any]:
    """A report's ladder, recomputed from its records for reports written before ladders existed."""
    return report.get("ladder") or _ladders(report.get("records", []))


def build_report(records: list[dict[str, Any]], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The report object: metadata, summary, the ladder, accuracy per tool / agent / tag, ranked reasons."""
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
        "ladder": _ladders(records),
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
        *_ladder_markdown(report_ladder(report)),
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


def _ladder_markdown(ladder_report: Mapping[str, Any]) -> list[str]:
    overall = ladder_report["overall"]
    lines = [
        "",
        "## The ladder: what the answers got right",
        "",
        "Each rung needs the ones above it; a model that learns climbs it before it passes whole cases.",
        "",
        "| rung | what | cases | rate |",
        "| --- | --- | ---: | ---: |",
    ]
    lines += [
        f"| {rung} | {label} | {overall[rung]['passed']}/{overall[rung]['total']} | {overall[rung]['rate']:.1%} |"
        for rung, label in LADDER.items()
    ]
    lines += ["", "| agent | " + " | ".join(LADDER) + " |", "| --- |" + " ---: |" * len(LADDER)]
    for agent, rungs in ladder_report["by_agent"].items():
        lines.append(f"| {agent} | " + " | ".join(f"{rungs[rung]['rate']:.0%}" for rung in LADDER) + " |")
    return lines


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def write_chart(report: Mapping[str, Any], path: Path) -> Path:
    """Two panels (matplotlib, Agg backend): the ladder overall, and each rung's rate per agent."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ladder_report = report_ladder(report)
    agents = list(ladder_report["by_agent"])
    rungs = list(LADDER)
    figure = Figure(figsize=(5 + max(4.0, 1.2 * len(agents) + 1), 4.5), dpi=100)
    overall_axes, agent_axes = figure.subplots(1, 2, width_ratios=[1, max(1.0, len(agents) / 3)])
    values = [ladder_report["overall"][rung]["rate"] * 100 for rung in rungs]
    bars = overall_axes.bar(rungs, values, color=[_RUNG_COLOURS[rung] for rung in rungs])
    overall_axes.bar_label(bars, labels=[f"{v:.0f}%" for v in values], padding=2, fontsize=8)
    overall_axes.set_title("overall", fontsize=10)
    width = 0.8 / len(rungs)
    for offset, rung in enumerate(rungs):
        heights = [ladder_report["by_agent"][agent][rung]["rate"] * 100 for agent in agents]
        positions = [index + (offset - (len(rungs) - 1) / 2) * width for index in range(len(agents))]
        agent_axes.bar(positions, heights, width, label=rung, color=_RUNG_COLOURS[rung])
    agent_axes.set_xticks(range(len(agents)), agents)
    agent_axes.legend(fontsize=7, ncols=3, loc="upper right")
    agent_axes.set_title("per agent", fontsize=10)
    for axes in (overall_axes, agent_axes):
        axes.set_ylim(0, 115)
        axes.set_ylabel("cases reaching the rung (%)")
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    meta = report["metadata"]
    figure.suptitle(f"{meta.get('model') or '?'} on {meta.get('prompt_set')}", fontsize=10)
    figure.tight_layout()
    with atomic_file(path, "wb", encoding=None) as handle:
        figure.savefig(handle, format="png")
    return path


_RUNG_COLOURS = dict(zip(LADDER, ("#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08306b"), strict=True))


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
    """Changes from ``before`` to ``after``: overall, per rung of the ladder (overall and per agent), per tool
    (``regressions``, ``gains``, ``unchanged``), and ``warnings`` where the two runs are not like for like."""
    rows = []
    for tool in sorted(set(before["by_tool"]) | set(after["by_tool"])):
        old, new = before["by_tool"].get(tool), after["by_tool"].get(tool)
        old_accuracy = old["accuracy"] if old else None
        new_accuracy = new["accuracy"] if new else None
        delta = None if old is None or new is None else new_accuracy - old_accuracy
        rows.append({"tool": tool, "before": old_accuracy, "after": new_accuracy, "delta": delta})
    overall = after["summary"]["accuracy"] - before["summary"]["accuracy"]
    old_ladder, new_ladder = report_ladder(before), report_ladder(after)
    agents = sorted(set(old_ladder["by_agent"]) & set(new_ladder["by_agent"]))
    return {
        "overall": {"before": before["summary"]["accuracy"], "after": after["summary"]["accuracy"], "delta": overall},
        "ladder": _rung_changes(old_ladder["overall"], new_ladder["overall"]),
        "ladder_by_agent": {
            agent: _rung_changes(old_ladder["by_agent"][agent], new_ladder["by_agent"][agent]) for agent in agents
        },
        "regressions": [row for row in rows if row["delta"] is not None and row["delta"] < 0],
        "gains": [row for row in rows if row["delta"] is not None and row["delta"] > 0],
        "unchanged": [row for row in rows if row["delta"] == 0],
        "only_in_one": [row for row in rows if row["delta"] is None],
        "warnings": comparison_warnings(before["metadata"], after["metadata"]),
    }


def _rung_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "rung": rung,
            "before": old[rung]["rate"],
            "after": new[rung]["rate"],
            "delta": new[rung]["rate"] - old[rung]["rate"],
        }
        for rung in LADDER
    ]


def comparison_warnings(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Why two runs may not compare like for like: another prompt set, another tool offer, or a model
    evaluated with another tool offer than it was trained with."""
    warnings = []
    if before.get("prompt_set") != after.get("prompt_set"):
        warnings.append(f"the prompt sets differ: {before.get('prompt_set')} vs {after.get('prompt_set')}")
    offered = before.get("tools_offered", "all"), after.get("tools_offered", "all")
    if offered[0] != offered[1]:
        warnings.append(
            f"the tool offers differ: --tools {offered[0]} vs --tools {offered[1]}; a model scores differently "
            "with other tool definitions in its prompt"
        )
    for label, meta in (("before", before), ("after", after)):
        trained = meta.get("tools_trained")
        if trained and trained != meta.get("tools_offered", "all"):
            warnings.append(
                f"{label}: the model was trained with tool offer {trained!r} and evaluated with "
                f"{meta.get('tools_offered', 'all')!r}"
            )
    return warnings


def render_comparison(comparison: Mapping[str, Any]) -> list[str]:
    lines = [f"warning: {warning}" for warning in comparison.get("warnings", [])]
    overall = comparison["overall"]
    lines.append(f"overall: {overall['before']:.1%} -> {overall['after']:.1%} ({overall['delta']:+.1%})")
    lines.append("ladder (cases reaching each rung):")
    lines += [
        f"  {row['rung']:<8} {row['before']:6.1%} -> {row['after']:6.1%} ({row['delta']:+.1%})"
        for row in comparison.get("ladder", [])
    ]
    by_agent = comparison.get("ladder_by_agent", {})
    if by_agent:
        width = max(len(agent) for agent in by_agent)
        lines.append(f"  {'agent':<{width}}  " + "  ".join(f"{rung:>15}" for rung in LADDER))
        for agent, changes in by_agent.items():
            cells = "  ".join(f"{row['before']:>4.0%} -> {row['after']:>4.0%}".rjust(15) for row in changes)
            lines.append(f"  {agent:<{width}}  {cells}")
    for title in ("regressions", "gains"):
        rows = comparison[title]
        lines.append(f"{title}: {len(rows)}")
        lines += [f"  {r['tool']}: {r['before']:.1%} -> {r['after']:.1%} ({r['delta']:+.1%})" for r in rows]
    if comparison["only_in_one"]:
        lines.append("only in one report: " + ", ".join(row["tool"] for row in comparison["only_in_one"]))
    return lines
