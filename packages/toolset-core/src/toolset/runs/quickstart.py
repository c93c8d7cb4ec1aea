"""``toolset quickstart``: the whole pipeline on the embedded SmolLM2-135M-Instruct, one clear line per stage.

The model learns the Claudesidian tool set from the generated sample (``samples/quickstart_*.jsonl``, made by
``packages/toolset-core/scripts/generate_quickstart_data.py``; no evaluation case is in it) with the settings
of the ``quickstart`` preset, and the base and tuned models are evaluated the same way (the tool offer the
model was trained with). The summary says what improved, rung by rung of the scoring ladder.

It is the ``quickstart`` preset run by :func:`toolset.runs.pipeline.run_pipeline` (every step through registered
components; each recorded in ``OUTPUT/pipeline.json`` when done, and ``--resume`` skips finished steps). A step
whose component is not installed here is reported as skipped, with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import click

from toolset.errors import ToolsetError

PRESET = "quickstart"
SFT_SAMPLE, KTO_SAMPLE = "quickstart_sft.jsonl", "quickstart_kto.jsonl"


@attrs.define(kw_only=True)
class QuickstartOptions:
    """``None``: the ``quickstart`` preset's value (its prompt set's size for ``eval_cases``)."""

    eval_cases: int | None = None
    sft_steps: int | None = None
    kto_steps: int | None = None


def loss_change(rows: list[dict[str, Any]]) -> str:
    """The training loss from start to end, from the metrics rows that log one (``step``, ``loss``): first
    against last where there are fewer than 8, else the means of the first and last quarter. A logged loss
    depends on the examples of its steps, so the last can be above the first while the trend falls."""
    logged = [(row.get("step"), row["loss"]) for row in rows if "loss" in row]
    if not logged:
        return "no loss logged"
    if len(logged) < 8:
        (first_step, first), (last_step, last) = logged[0], logged[-1]
        return f"loss {first:.3f} at step {first_step} -> {last:.3f} at step {last_step}"
    n = len(logged) // 4
    first, last = (sum(loss for _, loss in part) / n for part in (logged[:n], logged[-n:]))
    change = f" ({last / first:.0%} of the start)" if first > 0 else ""
    return f"loss {first:.3f} -> {last:.3f}{change}, means of the first and last {n} logged values"


def quickstart_config(options: QuickstartOptions) -> Any:
    """The ``quickstart`` preset on the bundled sample, minus the steps whose component is missing here (each
    said on the console): validate, train SFT then KTO, export GGUF, evaluate base and tuned."""
    from toolset.config import load_config
    from toolset.data.readers import sample_path

    sft, kto = sample_path(SFT_SAMPLE), sample_path(KTO_SAMPLE)
    overrides = [f"dataset.sft=[{sft}]", f"dataset.kto=[{kto}]"]
    overrides += [f"train.sft.max_steps={options.sft_steps}"] if options.sft_steps else []
    overrides += [f"train.kto.max_steps={options.kto_steps}"] if options.kto_steps else []
    overrides += [f"eval.limit={options.eval_cases}"] if options.eval_cases else []
    config = load_config(None, preset=PRESET, overrides=overrides)
    missing = {
        "validate": _missing("validator", "schema"),
        "export": _missing("exporter", "gguf"),
        "evaluate": _missing("evaluator", config.eval.evaluator) or _missing("backend", config.eval.backend),
    }
    for step, reason in missing.items():
        if reason:
            click.echo(f"{step}: skipped - {reason}")
    if missing["validate"]:
        config = attrs.evolve(config, dataset=attrs.evolve(config.dataset, validate=False))
    if missing["export"] or missing["evaluate"]:
        config = attrs.evolve(config, eval=attrs.evolve(config.eval, after_training=False, baseline=False))
    if missing["export"]:
        config = attrs.evolve(config, export=attrs.evolve(config.export, formats=[]))
    return config


def _missing(kind: str, name: str) -> str | None:
    """Why the ``kind`` component ``name`` cannot run here (naming what to install), or None when it can."""
    from toolset.runs.steps import usable

    try:
        usable(kind, name, "quickstart")
    except ToolsetError as exc:
        return str(exc)
    return None


def run_quickstart(output: Path, resume: bool, options: QuickstartOptions | None = None) -> None:
    """The ``quickstart`` preset through ``toolset pipeline`` (one orchestrator, ``OUTPUT/pipeline.json``,
    ``--resume``), then the loss curve and what training changed."""
    from toolset.runs.pipeline import run_pipeline
    from toolset.runs import plot_loss

    config = quickstart_config(options or QuickstartOptions())
    if (output / "pipeline.json").exists() and not resume:
        raise ToolsetError(f"{output} holds an earlier quickstart: add --resume, or choose another --output")
    state = run_pipeline(config, run_dir=output, resume=resume, echo=click.echo)["stages"]
    runs = [output / method for method in ("sft", "kto") if (output / method / "logs" / "metrics.jsonl").is_file()]
    png = plot_loss(runs, output / "loss.png") if runs else None
    click.echo("")
    click.secho("Summary", bold=True)
    for line in summary_lines(output, state, config):
        click.echo(f"  {line}")
    click.echo(f"  {'loss curve':<10} {png or 'no training ran'}")
    lines = improvement_lines(output)
    if lines:
        click.echo("")
        click.secho(f"What training changed ({config.eval.prompt_set}, base -> tuned)", bold=True)
        for line in lines:
            click.echo(f"  {line}")
    click.echo(f"\nEverything is under {output}")


def summary_lines(output: Path, state: dict[str, Any], config: Any) -> list[str]:
    """One line per step the pipeline recorded in ``pipeline.json``."""
    lines = []
    if "validate" in state:
        lines.append(f"{'validate':<10} {state['validate'].get('conversations', '?')} conversations valid")
    for method in ("sft", "kto"):
        if method in state:
            metrics = output / method / "logs" / "metrics.jsonl"
            rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
            lines.append(f"{method:<10} {state[method]['final_model']} ({loss_change(rows)})")
    if "export-gguf" in state:
        lines.append(f"{'export':<10} {', '.join(state['export-gguf']['paths'])}")
        modelfile = output / "export" / "ollama" / "Modelfile"
        if modelfile.is_file():
            from toolset.publish.local_apps import ollama_create_command

            lines.append(f"{'Ollama':<10} {ollama_create_command(modelfile, 'toolset-smollm2-tuned')}")
    results = [f"{label} {state[key]['passed']}/{state[key]['cases']}" for label, key in TWO if key in state]
    if results:
        report = _reports(output).get("tuned", {})
        offer = report.get("metadata", {}).get("tools_offered", config.eval.tools)
        lines.append(f"{'evaluate':<10} {', '.join(results)} full passes on {config.eval.prompt_set} (tools: {offer})")
    return lines


RUNGS = {
    "call": "made a call that parses (or rightly none)",
    "tool": "picked the right tool(s)",
    "schema": "gave schema-valid arguments",
    "context": "passed the right context ids",
    "values": "used the expected values",
    "pass": "passed the whole case",
}


TWO = (("base", "eval-base"), ("tuned", "eval"))  # the pipeline's evaluation folders, base and tuned


def _reports(output: Path) -> dict[str, dict[str, Any]]:
    reports = {}
    for label, folder in TWO:
        path = output / folder / "report.json"
        if path.is_file():
            reports[label] = json.loads(path.read_text())
    return reports


def improvement_lines(output: Path) -> list[str]:
    """The summary's account of what training changed: the SFT loss, then each rung of the scoring ladder
    (cases that reached it, base -> tuned) in words, then the ladder per agent."""
    lines = []
    metrics = output / "sft" / "logs" / "metrics.jsonl"
    if metrics.is_file():
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        lines.append(f"SFT {loss_change(rows)}")
    reports = _reports(output)
    if set(reports) != {"base", "tuned"} or not all("ladder" in report for report in reports.values()):
        return lines + accuracy_table(output)
    base, tuned = (reports[label]["ladder"]["overall"] for label in ("base", "tuned"))
    better = [rung for rung in RUNGS if tuned[rung]["passed"] > base[rung]["passed"]]
    worse = [rung for rung in RUNGS if tuned[rung]["passed"] < base[rung]["passed"]]
    for rung, words in RUNGS.items():
        before, after, total = base[rung]["passed"], tuned[rung]["passed"], tuned[rung]["total"]
        lines.append(f"{words:<44} {before:>3}/{total} -> {after:>3}/{total} ({after - before:+d})")
    verdict = f"better on {len(better)} of {len(RUNGS)} rungs" + (f" ({', '.join(better)})" if better else "")
    lines.append(verdict + (f"; worse on {', '.join(worse)}" if worse else "") + ".")
    lines += ["", "per agent, cases reaching each rung (base -> tuned):"]
    return lines + agent_ladder_table(reports)


def agent_ladder_table(reports: dict[str, dict[str, Any]]) -> list[str]:
    by_agent = {label: report["ladder"]["by_agent"] for label, report in reports.items()}
    agents = sorted(set(by_agent["base"]) | set(by_agent["tuned"]))
    width = max(len(agent) for agent in [*agents, "agent"])

    def cell(agent: str, rung: str) -> str:
        counts = [by_agent[label].get(agent, {}).get(rung) for label in ("base", "tuned")]
        return "->".join(str(count["passed"]) if count else "-" for count in counts)

    lines = [f"{'agent':<{width}}  cases  " + "  ".join(f"{rung:>7}" for rung in RUNGS)]
    for agent in agents:
        total = next(by_agent[label][agent]["call"]["total"] for label in ("tuned", "base") if agent in by_agent[label])
        lines.append(f"{agent:<{width}}  {total:>5}  " + "  ".join(f"{cell(agent, rung):>7}" for rung in RUNGS))
    return lines


def accuracy_table(output: Path) -> list[str]:
    """Lines comparing the base and tuned models' accuracy per agent (reports written before the ladder)."""
    reports = _reports(output)
    if not reports:
        return []
    agents = sorted({agent for report in reports.values() for agent in report["by_agent"]})

    def cell(label: str, agent: str) -> str:
        entry = reports.get(label, {}).get("by_agent", {}).get(agent)
        return f"{entry['passed']}/{entry['total']}" if entry else "-"

    width = max(len(agent) for agent in [*agents, "overall"])
    lines = [f"{'agent':<{width}}  {'base':>6}  {'tuned':>6}"]
    lines += [f"{agent:<{width}}  {cell('base', agent):>6}  {cell('tuned', agent):>6}" for agent in agents]
    overall = {
        label: f"{report['summary']['passed']}/{report['summary']['cases']}" for label, report in reports.items()
    }
    lines.append(f"{'overall':<{width}}  {overall.get('base', '-'):>6}  {overall.get('tuned', '-'):>6}")
    return lines
