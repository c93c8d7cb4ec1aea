"""Built-in commands: ``config``, ``toolsets``, ``ask`` (one question to a backend with a tool set's tools),
``train`` (one registered trainer), ``export``, ``upload``, ``quickstart`` and ``pipeline`` (every
``train.stages`` trainer, then export and eval)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toolset.cli.options import config_argument, num_processes_option, preset_option, run_dir_option, set_option
from toolset.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    cli.add_command(config_group)
    cli.add_command(toolsets_group)
    cli.add_command(ask)
    cli.add_command(train)
    cli.add_command(export)
    cli.add_command(upload)
    cli.add_command(quickstart)
    cli.add_command(pipeline)


@click.group(name="config")
def config_group() -> None:
    """Show and check run configurations and presets."""


@config_group.command(name="show")
@click.argument("config_file", metavar="[CONFIG]", required=False, type=click.Path(path_type=Path))
@preset_option()
@set_option
@click.option("--format", "fmt", type=click.Choice(["yaml", "json", "toml"]), default="yaml", show_default=True)
def config_show(config_file: Path | None, preset: str | None, overrides: tuple[str, ...], fmt: str) -> None:
    """Print the resolved configuration: defaults, then preset, CONFIG file and --set overrides."""
    from toolset.config import dump_config, load_config

    click.echo(dump_config(load_config(config_file, preset=preset, overrides=overrides), fmt), nl=False)


@config_group.command(name="presets")
def config_presets() -> None:
    """List the presets shipped with toolset-core."""
    from toolset.config import preset_data, preset_names

    for name in preset_names():
        model = preset_data(name).get("model", {}).get("name", "")
        click.echo(f"{name:<16} {model}")


@click.group(name="toolsets")
def toolsets_group() -> None:
    """List and inspect registered tool sets."""


@toolsets_group.command(name="list")
def toolsets_list() -> None:
    """Name, plugin and description of every registered tool set."""
    from toolset.plugins import get_registries

    for component in get_registries().toolsets:
        click.echo(f"{component.name:<16} [{component.plugin}] {component.description}")


@toolsets_group.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the tools as OpenAI-style function definitions.")
def toolsets_show(name: str, as_json: bool) -> None:
    """The tools of tool set NAME."""
    from toolset.plugins import get_registries

    component = get_registries().toolsets.get(name)
    catalog = component.factory(component.default_config())
    if as_json:
        click.echo(json.dumps(catalog.to_openai(), indent=2))
        return
    click.echo(f"{catalog.name}: {len(catalog.tools)} tools, {len(catalog.rules)} extra rules")
    for tool in catalog.tools:
        required = tool.parameters.get("required", [])
        click.echo(f"  {tool.name:<36} required: {', '.join(required) or '-'}")


@click.command()
@click.argument("question")
@click.option("--backend", "backend_name", required=True, help="Backend name (see `toolset plugins`).")
@click.option("--toolset", "toolset_name", help="Offer this tool set's tools to the model.")
@click.option("--model", help="Model name, for backends that serve several.")
@click.option("--system", help="System prompt.")
@click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE", help="Backend config value, e.g. timeout_s=30."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole response as JSON.")
def ask(
    question: str,
    backend_name: str,
    toolset_name: str | None,
    model: str | None,
    system: str | None,
    options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Send one QUESTION to a backend and print its answer and tool calls."""
    from toolset.config import structure_section
    from toolset.plugins import get_registries

    registries = get_registries()
    backend = registries.backends.get(backend_name)
    tools = None
    if toolset_name:
        toolset = registries.toolsets.get(toolset_name)
        tools = toolset.factory(toolset.default_config()).to_openai()
    config = structure_section(backend.config, options, what=f"backend {backend_name}")
    client = backend.factory(config)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    response = client.chat(messages, tools=tools, **({"model": model} if model else {}))
    if as_json:
        click.echo(
            json.dumps(
                {"content": response.content, "tool_calls": response.tool_calls, "model": response.model}, indent=2
            )
        )
        return
    if response.content:
        click.echo(response.content)
    for call in response.tool_calls:
        click.echo(f"tool call: {call['name']} {json.dumps(call.get('arguments', {}))}")


@click.command()
@click.argument("exporter_name", metavar="EXPORTER")
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.argument("destination", type=click.Path(path_type=Path))
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Exporter config, e.g. out_type=q8_0.")
def export(exporter_name: str, source: Path, destination: Path, options: tuple[str, ...]) -> None:
    """Export SOURCE (a run's model folder) to DESTINATION with EXPORTER (adapter, gguf, ...)."""
    from toolset.config import structure_section
    from toolset.plugins import get_registries

    exporter = get_registries().exporters.get(exporter_name)
    availability = exporter.availability()
    if not availability.usable:
        raise click.ClickException(f"exporter {exporter_name} cannot run here: {availability.detail}")
    config = structure_section(exporter.config, options, what=f"exporter {exporter_name}")
    written = exporter.factory(source, destination, config)
    click.echo(f"wrote {written}")
    if exporter_name == "ollama":
        from toolset.publish.local_apps import ollama_create_command

        name = getattr(config, "name", None) or source.stem
        click.echo(f"next: {ollama_create_command(written, name)}")
    report = Path(str(written) + ".verify.json")
    if report.is_file():
        click.echo(f"verified: {json.loads(report.read_text())['detail']}")


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("repo_id")
@click.option("--what", multiple=True, type=click.Choice(["adapter", "merged", "gguf"]), help="Default: all found.")
@click.option("--public", is_flag=True, help="Create public repositories (private by default).")
@click.option("--dry-run", is_flag=True, help="List the files and show the model cards; upload nothing.")
def upload(run_dir: Path, repo_id: str, what: tuple[str, ...], public: bool, dry_run: bool) -> None:
    """Upload RUN_DIR's adapter (REPO_ID), merged model (REPO_ID-merged) and GGUF files (REPO_ID-GGUF)."""
    from toolset.publish import hub

    plans = hub.plan_upload(run_dir, repo_id, what or ("adapter", "merged", "gguf"))
    for plan in plans:
        total = sum(size for _name, size in plan.files)
        click.echo(f"{plan.kind} -> {plan.repo_id} ({len(plan.files)} files, {total / 2**20:.1f} MiB)")
        for name, size in plan.files:
            click.echo(f"  {name}  {size / 2**20:.1f} MiB")
        if dry_run:
            click.echo("  README.md (model card):")
            click.echo("    " + plan.card.replace("\n", "\n    ").rstrip())
    if dry_run:
        click.echo("dry run: nothing uploaded")
        return
    for url in hub.upload(plans, private=not public):
        click.echo(f"uploaded: {url}")


@click.command()
@click.option("--output", type=click.Path(path_type=Path), default=Path("runs/quickstart"), show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted quickstart, skipping finished stages.")
@click.option("--eval-cases", type=click.IntRange(1), help="Evaluate only the first N cases [default: the whole set].")
@click.option("--sft-steps", type=click.IntRange(1), help="SFT optimizer steps [default: the quickstart preset's].")
@click.option("--kto-steps", type=click.IntRange(1), help="KTO optimizer steps [default: the quickstart preset's].")
def quickstart(
    output: Path, resume: bool, eval_cases: int | None, sft_steps: int | None, kto_steps: int | None
) -> None:
    """Validate the generated sample, train SFT then KTO, export GGUF + Ollama, evaluate base vs tuned."""
    from toolset.runs.quickstart import QuickstartOptions, run_quickstart

    options = QuickstartOptions(eval_cases=eval_cases, sft_steps=sft_steps, kto_steps=kto_steps)
    run_quickstart(output, resume, options)


@click.command()
@click.argument("trainer_name", metavar="TRAINER")
@config_argument
@preset_option("tiny, 3b, 7b, 13b, 20b, mac-7b, ...")
@set_option
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint.")
@click.option(
    "--dry-run", is_flag=True, help="Load config, data and tokenizer, print examples, counts, steps and memory; stop."
)
@run_dir_option()
@click.option("--parent", type=click.Path(path_type=Path), help="An earlier run whose adapter this one continues.")
@num_processes_option
def train(
    trainer_name: str,
    config_file: Path | None,
    preset: str | None,
    overrides: tuple[str, ...],
    resume: bool,
    dry_run: bool,
    run_dir: Path | None,
    parent: Path | None,
    num_processes: int,
) -> None:
    """Train with one registered TRAINER (sft, kto, mlx-lora, a plugin's; see `toolset plugins`)."""
    from toolset.config import load_run_config
    from toolset.errors import ToolsetError
    from toolset.runs.launch import launched, rank, relaunch
    from toolset.runs.pipeline import train_stage, trainer_settings, usable_trainer

    config = load_run_config(config_file, preset, overrides)
    trainer = usable_trainer(trainer_name, "toolset train")
    if dry_run:
        if trainer.describe is None:
            raise ToolsetError(f"trainer {trainer.name!r} gives no dry-run description")
        for line in trainer.describe(config, trainer_settings(trainer, config)):
            click.echo(line)
        return
    if num_processes > 1 and not launched():
        if run_dir is None and config.run_id is None:
            raise ToolsetError("--num-processes needs a fixed run folder: give --run-dir or set run_id")
        raise SystemExit(relaunch(num_processes))
    if run_dir is None:
        from toolset.runs import new_run_id

        run_dir = Path(config.output_dir) / (config.run_id or new_run_id(config))
    final = train_stage(trainer, config, run_dir, parent=parent, resume=resume, echo=click.echo)
    if rank() == 0:
        click.echo(f"final model: {final}")


@click.command()
@config_argument
@preset_option()
@set_option
@click.option("--resume", is_flag=True, help="Continue: skip finished stages, resume an interrupted one.")
@click.option("--dry-run", is_flag=True, help="Check the stages and print each trainer's plan (data, steps); stop.")
@run_dir_option("Pipeline folder")
@num_processes_option
def pipeline(
    config_file: Path | None,
    preset: str | None,
    overrides: tuple[str, ...],
    resume: bool,
    dry_run: bool,
    run_dir: Path | None,
    num_processes: int,
) -> None:
    """Train each of train.stages in turn (sft, kto, mlx-lora, ...), each from the one before; export; evaluate."""
    from toolset.config import load_run_config
    from toolset.errors import ToolsetError
    from toolset.runs.launch import launched, relaunch
    from toolset.runs.pipeline import run_pipeline, stage_trainers

    config = load_run_config(config_file, preset, overrides)
    if num_processes > 1 and not launched() and not dry_run:
        stage_trainers(config)  # a bad stage is one message, not one per process
        if run_dir is None and config.run_id is None:
            raise ToolsetError("--num-processes needs a fixed pipeline folder: give --run-dir or set run_id")
        raise SystemExit(relaunch(num_processes))
    run_pipeline(config, run_dir=run_dir, resume=resume, dry_run=dry_run, echo=click.echo)
