"""Real mlx-lm LoRA training on a tiny model (mlx[cpu] on Linux): stages, resume, fuse, GGUF from the fused folder."""

from __future__ import annotations

import json

import pytest

from toolset.config import LoraConfig, MlxConfig
from toolset.errors import ToolsetError

pytestmark = [pytest.mark.mlx, pytest.mark.slow]

ROWS = [
    {
        "messages": [
            {"role": "user", "content": f"Create a note called n{i}"},
            {
                "role": "assistant",
                "content": f'<tool_call>{{"name": "create_note", "arguments": {{"title": "n{i}"}}}}</tool_call>',
            },
        ]
    }
    for i in range(8)
]
SETTINGS = dict(
    lora=LoraConfig(r=4), mlx=MlxConfig(num_layers=2, batch_size=2, grad_checkpoint=False), max_seq_length=256
)


@pytest.fixture
def base(mlx_base):
    return mlx_base


def test_stage_trains_and_writes_adapters_and_metrics(base, tmp_path):
    from toolset_mlx.lora import train_adapter

    rows = []
    out = train_adapter(
        base, ROWS, ROWS[:2], tmp_path / "s1", iterations=8, learning_rate=1e-3, emit=rows.append, **SETTINGS
    )
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapters.safetensors"]
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["fine_tune_type"] == "lora" and config["lora_parameters"]["rank"] == 4
    losses = [row["loss"] for row in rows if "loss" in row]
    assert losses and losses[-1] < losses[0]
    assert all({"step", "lr", "tokens_per_s", "peak_memory_mb", "stage"} <= row.keys() for row in rows if "loss" in row)
    assert any("eval_loss" in row for row in rows)


def test_next_stage_starts_from_previous_adapters_then_fuses(base, tmp_path):
    import mlx.core as mx

    from toolset.builtins.exporters import export_gguf
    from toolset.weights.gguf_export import GGUFExportConfig
    from toolset.weights.verify import verify_gguf
    from toolset_mlx.lora import fuse, train_adapter

    first = train_adapter(base, ROWS, [], tmp_path / "s1", iterations=6, learning_rate=1e-3, **SETTINGS)
    second = train_adapter(
        base, ROWS, [], tmp_path / "s2", iterations=1, learning_rate=0.0, resume_from=first, **SETTINGS
    )
    before = mx.load(str(first / "adapters.safetensors"))
    after = mx.load(str(second / "adapters.safetensors"))
    assert before.keys() == after.keys()
    assert all(mx.allclose(before[key], after[key]).item() for key in before)  # lr 0: resumed weights unchanged
    fused = fuse(base, second, tmp_path / "fused")
    assert (fused / "config.json").is_file() and (fused / "tokenizer.json").is_file()
    gguf = export_gguf(fused, tmp_path / "fused.gguf", GGUFExportConfig(out_type="f32", verify=False))
    # A random tiny model has near-ties in its logits (gaps of 0.02), so llama.cpp and torch may part a few
    # tokens in on one prompt; a broken conversion agrees on almost nothing.
    assert verify_gguf(gguf, fused, exact=False).agreement >= 0.75


def test_clear_errors(base, tmp_path):
    from toolset_mlx.lora import fuse, train_adapter

    with pytest.raises(ToolsetError, match="fewer than batch_size"):
        train_adapter(base, ROWS[:1], [], tmp_path / "x", iterations=1, learning_rate=1e-3, **SETTINGS)
    with pytest.raises(ToolsetError, match="no adapters.safetensors"):
        fuse(base, tmp_path, tmp_path / "f")
    with pytest.raises(ToolsetError, match="not a local model folder"):
        train_adapter(tmp_path / "missing", ROWS, [], tmp_path / "y", iterations=1, learning_rate=1e-3, **SETTINGS)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
