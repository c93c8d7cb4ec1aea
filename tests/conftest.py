"""Shared fixtures, and the skip rules of the ``gpu``, ``mlx``, ``llama_cpp`` and ``ollama`` markers."""

from __future__ import annotations

import functools
import importlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from hypothesis import settings

# CI runs the same examples every time (a failure found locally is kept by hypothesis' database).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
UPSTREAM = REPO.parent / "shared" / "upstream-data"


@functools.cache
def _gpu() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    return None if torch.cuda.is_available() else "no CUDA GPU on this machine"


@functools.cache
def _importable(module: str, hint: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as exc:
        return f"{module} is not importable ({type(exc).__name__}: {exc}); {hint}"
    return None


@functools.cache
def _ollama() -> str | None:
    host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")
    parsed = urlparse(host if "://" in host else f"http://{host}")
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 11434), timeout=0.5):
            return None
    except OSError:
        return f"no Ollama server at {host} (the ollama backend's own tests use a local protocol server)"


REQUIREMENTS = {
    "gpu": _gpu,
    "mlx": lambda: _importable("mlx.core", 'install "toolset-core[mlx]"'),
    "llama_cpp": lambda: _importable("llama_cpp", "install llama-cpp-python"),
    "ollama": _ollama,
}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("TOOLSET_SKIP_SLOW"):
        skip_slow = pytest.mark.skip(reason="TOOLSET_SKIP_SLOW is set")
        for item in items:
            if item.get_closest_marker("slow"):
                item.add_marker(skip_slow)
    for marker, requirement in REQUIREMENTS.items():
        marked = [item for item in items if item.get_closest_marker(marker)]
        if not marked:
            continue
        reason = requirement()
        if reason:
            for item in marked:
                item.add_marker(pytest.mark.skip(reason=f"[{marker}] {reason}"))


@pytest.fixture
def upstream_data() -> Path:
    """The real Claudesidian data beside the checkout; tests using it skip when it is absent."""
    if not UPSTREAM.is_dir():
        pytest.skip(f"real data folder {UPSTREAM} is absent (it sits beside the checkout as shared/upstream-data)")
    return UPSTREAM


@pytest.fixture
def fresh_plugins(monkeypatch):
    """A plugin manager reloaded from scratch for this test, and reset again afterwards."""
    from toolset import plugins

    for variable in ("TOOLSET_LOAD_PLUGINS", "TOOLSET_DISABLE_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    plugins.reset()
    yield plugins
    plugins.reset()


@pytest.fixture(scope="session")
def embedded_hf(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct converted from the embedded GGUF to a Hugging Face folder (numpy only)."""
    from toolset.errors import ToolsetError
    from toolset.weights.models import embedded_gguf, gguf_to_hf

    try:
        source = embedded_gguf()
    except ToolsetError as exc:
        pytest.skip(str(exc))
    return gguf_to_hf(source, tmp_path_factory.mktemp("embedded") / "smollm2-135m-instruct")
