"""The ``toolset eval`` command group."""

from __future__ import annotations

import attrs
import click


@click.group(name="eval")
def eval_group() -> None:
    """Evaluate models served by a backend (Ollama, LM Studio, OpenAI-compatible, llama.cpp)."""


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
