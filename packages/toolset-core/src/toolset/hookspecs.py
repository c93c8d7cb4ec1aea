"""The hooks a toolset plugin implements. Each ``register_*`` hook receives a ``register`` callback."""

import pluggy

hookspec, hookimpl = pluggy.HookspecMarker("toolset"), pluggy.HookimplMarker("toolset")


@hookspec
def register_toolsets(register):
    """Register tool sets: ``register(Toolset(name, description, config, factory))``."""


@hookspec
def register_formatters(register):
    """Register data formatters (conversations to training rows): ``register(Formatter(...))``."""


@hookspec
def register_trainers(register):
    """Register training methods such as ``sft``, ``kto`` or ``mlx-lora``: ``register(Trainer(...))``."""


@hookspec
def register_exporters(register):
    """Register exporters (adapter, merged, GGUF, Hub...): ``register(Exporter(...))``."""


@hookspec
def register_backends(register):
    """Register inference backends used for evaluation: ``register(Backend(...))``."""


@hookspec
def register_evaluators(register):
    """Register evaluators (a model and a prompt set in, a scored summary out): ``register(Evaluator(...))``."""


@hookspec
def register_validators(register):
    """Register validators of training files against a tool set: ``register(Validator(...))``."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the ``toolset`` command-line group ``cli``."""
