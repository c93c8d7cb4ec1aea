"""``toolset quickstart``: the whole pipeline on the embedded SmolLM2-135M-Instruct, one clear line per stage.

The model learns the Claudesidian tool set from the generated sample (``samples/quickstart_*.jsonl``, made by
``packages/toolset-core/scripts/generate_quickstart_data.py``; no evaluation case is in it) with the settings
of the ``quickstart`` preset, and the base and tuned models are evaluated the same way (the tool offer the
model was trained with). The summary says what improved, rung by rung of the scoring ladder.

Stages run through registered components only (core imports no plugin and names no plugin's exporter), each
is recorded in ``OUTPUT/state.json`` when done, and ``--resume`` skips finished stages. A stage whose component
is not installed (or not built yet) is reported as skipped, with the reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click

from toolset.errors import ToolsetError
from toolset.storage import atomic_file

STAGES = 7


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


class Quickstart:
    def __init__(self, output: Path, resume: bool) -> None:
        self.output = output
        self.state_path = output / "state.json"
        self.state: dict[str, Any] = {}
        if resume and self.state_path.is_file():  # --resume on a fresh folder simply starts
            self.state = json.loads(self.state_path.read_text())
        elif self.state_path.exists() and not resume:
            raise ToolsetError(f"{output} holds an earlier quickstart: add --resume, or choose another --output")
        output.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        with atomic_file(self.state_path) as handle:
            json.dump(self.state, handle, indent=2)

    def stage(self, number: int, name: str, run: Callable[[], str]) -> None:
        label = f"[{number}/{STAGES}] {name}"
        done = self.state.get(name)
        if done:
            click.echo(f"{label}: done earlier - {done['result']}")
            return
        started = time.perf_counter()
        click.secho(f"{label} ...", bold=True)
        try:
            result = run()
        except _Skip as skip:
            click.echo(f"{label}: skipped - {skip}")
            return
        self.state[name] = {"result": result, "seconds": round(time.perf_counter() - started, 1)}
        self.save()
        click.echo(f"{label}: {result} ({self.state[name]['seconds']} s)")


class _Skip(Exception):
    """A stage that cannot run here, with the reason."""


def _component(kind: str, name: str, install: str) -> Any:
    """A registered component usable here, or a skipped stage saying how to get it."""
    from toolset.plugins import get_registries
    from toolset.steps import usable

    if name not in get_registries().for_kind(kind):
        raise _Skip(f"the {kind} {name!r} comes with {install}")
    return usable(kind, name, f"quickstart: {kind} {name!r}")


def run_quickstart(output: Path, resume: bool, options: QuickstartOptions | None = None) -> None:
    """Every step through the registered components (validator, trainers, exporters, evaluator); no command
    line in between."""
    from toolset.config import load_config
    from toolset.readers import read_conversations, sample_path, summarize

    options = options or QuickstartOptions()
    quick = Quickstart(output, resume)
    sft, kto = sample_path(SFT_SAMPLE), sample_path(KTO_SAMPLE)
    config = load_config(None, preset=PRESET, overrides=[f"dataset.sft=[{sft}]", f"dataset.kto=[{kto}]"])
    trained = output / "kto" / "final_model"

    def validate() -> str:
        from toolset.steps import validate

        findings: list = []
        counts = [sum(1 for _ in read_conversations(path, findings=findings)) for path in (sft, kto)]
        _component("validator", "schema", 'toolset-schemas: pip install "toolset-core[schemas]"')
        report = validate([sft, kto], config.dataset.toolset)
        if report.has_errors:
            raise ToolsetError(f"the bundled sample does not validate: {json.dumps(report.to_json()['summary'])}")
        return f"{counts[0]} SFT and {counts[1]} KTO conversations valid ({summarize(findings, sum(counts))})"

    def model() -> str:
        from toolset.models import embedded_model_dir

        return f"embedded SmolLM2-135M-Instruct as a Hugging Face folder: {embedded_model_dir()}"

    def train(method: str) -> Callable[[], str]:
        def run() -> str:
            from toolset.pipeline import train_stage

            trainer = _component("trainer", method, 'toolset-cuda: pip install "toolset-core[cuda]"')
            run_dir = output / method
            steps = options.sft_steps if method == "sft" else options.kto_steps
            stage = config.train
            if steps:
                stage = attrs.evolve(stage, **{method: attrs.evolve(getattr(stage, method), max_steps=steps)})
            parent = None
            if method == "kto":
                if not (output / "sft" / "final_model").is_dir():
                    raise _Skip("KTO continues the SFT adapter, and SFT did not run")
                parent = output / "sft"
            # an interrupted stage continues from its last checkpoint
            resume = (run_dir / "lineage.json").exists()
            stage_config = attrs.evolve(config, train=stage)
            train_stage(trainer, stage_config, run_dir, parent=parent, resume=resume, echo=click.echo)
            rows = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
            return f"{run_dir / 'final_model'} ({loss_change(rows)})"

        return run

    def export() -> str:
        from toolset.local_apps import ollama_create_command
        from toolset.models import embedded_model_dir
        from toolset.pipeline import overwriting

        gguf = _component("exporter", "gguf", 'toolset-core\'s gguf extra: pip install "toolset-core[gguf]"')
        settings = gguf.config(out_type="q8_0", name="smollm2", overwrite=True)
        base = gguf.factory(embedded_model_dir(), output / "gguf", settings)
        lines = [f"base {base}"]
        name = "smollm2"
        if trained.is_dir():
            trainer = _component("trainer", "kto", 'toolset-cuda: pip install "toolset-core[cuda]"')
            merger = _component("exporter", trainer.merge_exporter, "the plugin of the kto trainer")
            merger.factory(trained, output / "merged", overwriting(merger))
            name = "smollm2-tuned"
            tuned = gguf.factory(output / "merged", output / "gguf", attrs.evolve(settings, name=name))
            report = json.loads(Path(str(tuned) + ".verify.json").read_text())
            lines.append(f"tuned {tuned} ({report['detail']})")
        ollama = _component("exporter", "ollama", "toolset-core")
        modelfile = ollama.factory(
            output / "gguf" / f"{name}-q8_0.gguf", output / "ollama", ollama.config(family="chatml", name=name)
        )
        lines.append(f"Ollama: {ollama_create_command(modelfile, f'toolset-{name}')}")
        return "; ".join(lines)

    def evaluate() -> str:
        from toolset.pipeline import trained_offer
        from toolset.steps import evaluate

        _component("evaluator", config.eval.evaluator, 'toolset-eval: pip install "toolset-core[eval]"')
        # both models get the offer the tuned one was trained with, so the two are compared like for like
        offer, distractors = trained_offer(config, trained if trained.is_dir() else output / "sft" / "final_model")
        offer = offer or "none"
        settings = attrs.evolve(
            config.eval,
            backend="llamacpp",
            concurrency=1,
            limit=options.eval_cases,
            tools=offer,
            tool_distractors=distractors,
        )
        results = []
        for label, name in (("base", "smollm2"), ("tuned", "smollm2-tuned")):
            gguf = output / "gguf" / f"{name}-q8_0.gguf"
            if not gguf.is_file():
                continue
            folder = output / f"eval-{label}"
            summary = evaluate(
                gguf,
                config.eval.prompt_set,
                settings,
                evaluator=config.eval.evaluator,
                output=folder,
                resume=(folder / "records.jsonl").exists(),
                tools_trained=offer if label == "tuned" else None,
                echo=click.echo,
            )
            click.echo(f"{label}: accuracy {summary['accuracy']:.1%} ({summary['passed']}/{summary['cases']})")
            results.append(f"{label} {summary['passed']}/{summary['cases']}")
        return ", ".join(results) + f" full passes on {config.eval.prompt_set} (tools offered: {offer})"

    def summary() -> str:
        from toolset.runs import plot_loss

        runs = [output / method for method in ("sft", "kto") if (output / method / "logs" / "metrics.jsonl").is_file()]
        png = plot_loss(runs, output / "loss.png") if runs else None
        return f"loss curve {png}" if png else "no training ran: no loss curve"

    quick.stage(1, "validate", validate)
    quick.stage(2, "model", model)
    quick.stage(3, "train-sft", train("sft"))
    quick.stage(4, "train-kto", train("kto"))
    quick.stage(5, "export", export)
    quick.stage(6, "evaluate", evaluate)
    quick.stage(7, "loss-curve", summary)
    click.echo("")
    click.secho("Summary", bold=True)
    for name, done in quick.state.items():
        click.echo(f"  {name:<10} {done['result']}")
    lines = improvement_lines(output)
    if lines:
        click.echo("")
        click.secho(f"What training changed ({config.eval.prompt_set}, base -> tuned)", bold=True)
        for line in lines:
            click.echo(f"  {line}")
    click.echo(f"\nEverything is under {output}")


RUNGS = {
    "call": "made a call that parses (or rightly none)",
    "tool": "picked the right tool(s)",
    "schema": "gave schema-valid arguments",
    "context": "passed the right context ids",
    "values": "used the expected values",
    "pass": "passed the whole case",
}


def _reports(output: Path) -> dict[str, dict[str, Any]]:
    reports = {}
    for label in ("base", "tuned"):
        path = output / f"eval-{label}" / "report.json"
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
