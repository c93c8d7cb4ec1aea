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


def _set_field(config: object, name: str, value: object, what: str) -> object:
    from toolset.errors import ConfigError

    if config is None or not any(field.name == name for field in attrs.fields(type(config))):
        raise ConfigError(f"{what} has no {name!r} setting")
    return attrs.evolve(config, **{name: value})


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
    type=click.Choice(["all", "expected", "none"]),
    default="all",
    show_default=True,
    help="Tool definitions offered: the whole tool set, the case's expected tools, or none (for models trained "
    "on data without tool definitions in the prompt).",
)
def run_command(
    backend_name: str,
    model: str | None,
    host: str | None,
    prompt_set: str,
    toolset_name: str,
    output: Path | None,
    concurrency: int,
    limit: int | None,
    resume: bool,
    retries: int,
    timeout_s: float | None,
    seed: int,
    options: tuple[str, ...],
    no_progress: bool,
    offer_tools: str,
) -> None:
    """Evaluate a model on a prompt set; writes records.jsonl and report.json / .md / .png in the run folder."""
    import datetime
    import re

    from toolset.config import structure_section
    from toolset.plugins import get_registries
    from toolset_eval.prompts import load_prompt_set
    from toolset_eval.reports import build_report, write_reports
    from toolset_eval.runner import RECORDS_FILE, RunSettings, read_records, run_cases, sampling_of, unanswered
    from toolset_eval.scoring import Scorer

    registries = get_registries()
    backend = registries.backends.get(backend_name)
    what = f"backend {backend_name}"
    config = structure_section(backend.config, options, what=what)
    if config is None and backend.config is not None:
        config = backend.config()
    if host is not None:
        config = _set_field(config, "host", host, what)
    if model is not None:
        config = _set_field(config, "model", model, what)
    if timeout_s is not None:
        config = _set_field(config, "timeout_s", timeout_s, what)
    prompts = load_prompt_set(prompt_set)
    cases = list(prompts.cases)[:limit] if limit else list(prompts.cases)
    component = registries.toolsets.get(toolset_name)
    catalog = component.factory(component.default_config())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{prompts.name}-{backend_name}" + (f"-{model}" if model else ""))
    output = output or Path("eval-runs") / slug
    sampling = sampling_of(config, {"seed": seed})
    settings = RunSettings(
        concurrency=concurrency,
        retries=retries,
        sampling={"seed": seed},
        progress=not no_progress,
        offer_tools=offer_tools,
    )
    if resume:
        again = sum(map(unanswered, read_records(output / RECORDS_FILE)))
        if again:
            click.echo(f"asking again {again} case(s) that got no answer before")
    records = run_cases(
        cases, lambda: backend.factory(config), Scorer(catalog), output, settings=settings, resume=resume
    )
    metadata = {
        "backend": backend_name,
        "model": getattr(config, "model", None) or next((r.get("model") for r in records if r.get("model")), None),
        "prompt_set": prompts.name,
        "prompt_set_source": prompts.source,
        "sampling": sampling,
        "toolset": toolset_name,
        "toolset_version": _version(component.plugin),
        "toolset_eval_version": _version("toolset-eval"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "concurrency": concurrency,
        "tools_offered": offer_tools,
    }
    wanted = {case.id for case in cases}
    chosen = [r for r in records if r["id"] in wanted]
    report = build_report(chosen, metadata)
    paths = write_reports(report, output)
    summary = report["summary"]
    click.echo(f"accuracy {summary['accuracy']:.1%} ({summary['passed']}/{summary['cases']})")
    for row in report["failure_reasons"][:5]:
        click.echo(f"  {row['count']:4d}  {row['code']}")
    click.echo("wrote " + ", ".join(str(path) for path in paths))
    silent = [r for r in chosen if unanswered(r)]
    if silent:
        first = silent[0]["reasons"][0]["message"]
        retry = f"toolset eval run ... --output {output} --resume asks them again"
        if len(silent) == len(chosen):  # nothing was evaluated: not a 0% model, a failed run
            click.echo(f"Error: no case got an answer from backend {backend_name}: {first}", err=True)
            click.echo(f"Start the server or fix --host; {retry}.", err=True)
            raise SystemExit(1)
        click.echo(f"warning: {len(silent)} case(s) got no answer (first: {first}); {retry}", err=True)


def _version(distribution: str | None) -> str | None:
    from importlib import metadata

    if not distribution:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


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
