"""A tiny random llama with SmolLM2's tokenizer, shared by the MLX tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.model_factory import tiny_model


@pytest.fixture(scope="session")
def mlx_base(embedded_hf, tmp_path_factory) -> Path:
    return tiny_model(embedded_hf, tmp_path_factory.mktemp("mlx-tiny") / "llama", "llama")
