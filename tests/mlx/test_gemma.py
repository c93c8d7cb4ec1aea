"""Gemma 3 on the MLX trainer: mlx-lm runs the tiny random Gemma3ForCausalLM like transformers, trains it with the
Gemma training template, fuses it, and the core exporter turns the fused folder into a GGUF llama.cpp agrees with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.model_factory import tiny_gemma
from toolset.data.readers import sample_path

pytestmark = [pytest.mark.mlx, pytest.mark.slow]


@pytest.fixture(scope="module")
def gemma(tmp_path_factory) -> Path:
    pytest.importorskip("sentencepiece", reason="sentencepiece trains the test tokenizer (requirements/dev.txt)")
    return tiny_gemma(tmp_path_factory.mktemp("mlx-gemma") / "tiny-gemma3")


def test_mlx_lm_computes_the_tiny_gemma_like_transformers(gemma):
    """Five sliding layers with an 8-token window, then a global one: 13 tokens cross the window."""
    import mlx.core as mx
    import numpy as np
    import torch
    from mlx_lm import load
    from transformers import AutoModelForCausalLM

    ids = [2, 5, 100, 200, 300, 400, 500, 50, 60, 70, 80, 90, 99]
    model, _tokenizer = load(str(gemma))
    ours = np.array(model(mx.array([ids])).astype(mx.float32))
    with torch.no_grad():
        theirs = AutoModelForCausalLM.from_pretrained(gemma, dtype=torch.float32)(torch.tensor([ids])).logits
    assert np.allclose(ours, theirs.numpy(), atol=1e-4)


@pytest.mark.llama_cpp
def test_mlx_lora_on_gemma_fuses_into_a_gguf_that_agrees_with_transformers(gemma, tmp_path):
    from toolset.builtins.exporters import export_gguf
    from toolset.cli import cli
    from toolset.plugins import add_commands
    from toolset.weights.gguf_export import GGUFExportConfig
    from toolset.weights.verify import verify_gguf

    sample = str(sample_path("quickstart_sft.jsonl"))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output_dir": str(tmp_path / "runs"),
                "model": {"name": str(gemma), "source": "local", "dtype": "float32", "max_seq_length": 1024},
                "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                "dataset": {"sft": [sample], "eval_fraction": 0.0, "tools": "none"},
                "train": {
                    "stages": ["mlx-lora"],
                    "mlx": {"num_layers": 2, "batch_size": 2, "iterations": 2, "learning_rate": 1e-3},
                },
            }
        ),
        encoding="utf-8",
    )
    add_commands(cli)

    def invoke(*args: str) -> None:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output

    run, fused = tmp_path / "run", tmp_path / "fused"
    invoke("mlx", "train", str(config), "--run-dir", str(run))
    assert json.loads((run / "lineage.json").read_text())["chat_template"].startswith("chat template: the model's own")
    invoke("export", "mlx-fuse", str(run / "final_model"), str(fused))
    gguf = export_gguf(fused, tmp_path / "tuned.gguf", GGUFExportConfig(out_type="f32", verify=False))
    report = verify_gguf(gguf, fused, exact=False)
    assert report.agreement >= 0.9 and report.tokenizer_match and report.chat_tokenizer_match, report
