"""The ``toolset eval`` command group."""

from __future__ import annotations

from pathlib import Path

import attrs
import click


@click.group(name="eval")
def eval_group() -> None:
    """Evaluate models served by a backend (Ollama, LM Studio, OpenAI-compatible, llama.cpp, transformers)."""


@eval_group.command(name="list-models")
@click.option("--backend", "backend_name", required=True, help="Backend name (see `toolset plugins`).")
@click.option("--host", help="Server URL or host:port (overrides the backend's environment variable).")
@click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE", help="Backend config value, e.g. timeout_s=10."
)
def list_models(backend_name: str, host: str | None, options: tuple[str, ...]) -> None:
    """List the models BACKEND serves, one per line."""
    from toolset.config import structure_section
    from toolset.errors import ConfigError
    from toolset.plugins import get_registries

    backend = get_registries().backends.get(backend_name)
    config = structure_section(backend.config, options, what=f"backend {backend_name}")
    if host is not None:
        if config is None or not any(field.name == "host" for field in attrs.fields(type(config))):
            raise ConfigError(f"backend {backend_name} has no host (--host applies to server backends)")
        config = attrs.evolve(config, host=host)
    for model in backend.factory(config).list_models():
        click.echo(model)


@eval_group.command(name="run")
@click.option("--backend", "backend_name", required=True, help="Backend name (see `toolset plugins`).")
@click.option("--model", help="Model name on the server (default: the backend's config / the only model).")
@click.option("--host", help="Server URL or host:port.")
@click.option("--prompt-set", "prompt_set", required=True, help="A shipped set (`toolset eval prompt-sets`) or a file.")
@click.option("--toolset", "toolset_name", default="claudesidian", show_default=True, help="Tool set offered.")
@click.option("--output", type=click.Path(path_type=Path), help="Run directory [default: eval-runs/SET-BACKEND].")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Evaluate only the first N cases.")
@click.option("--resume", is_flag=True, help="Continue the run in --output, skipping the cases already recorded.")
@click.option("--retries", type=click.IntRange(0, 10), default=3, show_default=True, help="Retries per request.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1), help="Per-request timeout in seconds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed passed to the backend.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Backend config value.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option(
    "--tools",
    "offer_tools",
    type=click.Choice(["all", "expected", "distractors", "none"]),
    default="all",
    show_default=True,
    help="Tool definitions offered: the whole tool set, the case's expected tools, those plus "
    "--tool-distractors other tools, or none. Offer what the model was trained with (dataset.tools).",
)
@click.option(
    "--tool-distractors",
    "distractors",
    type=click.IntRange(0),
    default=3,
    show_default=True,
    help="Other tools offered beside the expected ones with --tools distractors (drawn per case).",
)
@click.option(
    "--tools-trained",
    type=click.Choice(["all", "expected", "distractors", "none"]),
    help="The --tools value that matches how the model was trained (recorded; `eval compare` warns when it "
    "differs from --tools).",
)
def run_command(backend_name: str, prompt_set: str, output: Path | None, **settings: object) -> None:
    """Evaluate a model on a prompt set; writes records.jsonl and report.json / .md / .png in the run folder."""
    from toolset_eval.evaluation import Evaluation, evaluate

    evaluation = Evaluation(backend=backend_name, prompt_set=prompt_set, output=output, **settings)  # type: ignore[arg-type]
    result = evaluate(evaluation, echo=click.echo)
    summary, report = result.summary, result.report
    click.echo(f"accuracy {summary['accuracy']:.1%} ({summary['passed']}/{summary['cases']})")
    rungs = report["ladder"]["overall"]
    click.echo("ladder: " + ", ".join(f"{rung} {row['rate']:.0%}" for rung, row in rungs.items()))
    for row in report["failure_reasons"][:5]:
        click.echo(f"  {row['count']:4d}  {row['code']}")
    click.echo("wrote " + ", ".join(str(path) for path in result.paths))
    if result.unanswered:
        retry = f"toolset eval run ... --output {result.output} --resume asks them again"
        if result.unanswered == summary["cases"]:  # nothing was evaluated: not a 0% model, a failed run
            click.echo(f"Error: no case got an answer from backend {backend_name}: {result.first_error}", err=True)
            click.echo(f"Start the server or fix --host; {retry}.", err=True)
            raise SystemExit(1)
        click.echo(
            f"warning: {result.unanswered} case(s) got no answer (first: {result.first_error}); {retry}", err=True
        )


@eval_group.command(name="compare")
@click.argument("before", type=click.Path(path_type=Path))
@click.argument("after", type=click.Path(path_type=Path))
def compare_command(before: Path, after: Path) -> None:
    """Accuracy changes per tool and overall between two reports (files or run folders)."""
    from toolset_eval.reports import compare_reports, load_report, render_comparison

    for line in render_comparison(compare_reports(load_report(before), load_report(after))):
        click.echo(line)


@eval_group.command(name="prompt-sets")
def prompt_sets_command() -> None:
    """List the prompt sets shipped with toolset-eval."""
    from toolset_eval.prompts import load_prompt_set, shipped_prompt_sets

    for name in shipped_prompt_sets():
        click.echo(f"{name}\t{len(load_prompt_set(name).cases)} cases")
