"""readers -> sft formatter -> mlx-lora in two stages (CLI, --stage N, resume from an adapter file) -> fuse ->
GGUF through the core exporter -> llama.cpp; and DoRA. Real mlx-lm on the CPU, tiny random llama."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from toolset.data.readers import sample_path

pytestmark = [pytest.mark.mlx, pytest.mark.slow]

SAMPLE = str(sample_path("claudesidian_sft.jsonl"))
CUDA_METRIC_KEYS = {"stage", "step", "epoch", "loss", "lr", "tokens_per_s", "samples_per_s", "peak_memory_mb"}


def toolset_cli():
    from toolset.cli import cli
    from toolset.plugins import add_commands

    add_commands(cli)
    return cli


def invoke(*args: str) -> str:
    result = CliRunner().invoke(toolset_cli(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_config(folder: Path, model: Path, **mlx) -> Path:
    data = {
        "output_dir": str(folder / "runs"),
        "model": {"name": str(model), "source": "local", "dtype": "float32", "max_seq_length": 2048},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "dataset": {"sft": [SAMPLE], "eval_fraction": 0.2, "tool_call_style": "native"},
        "train": {
            "stages": ["mlx-lora"],
            "mlx": {
                "num_layers": 2,
                "batch_size": 2,
                "grad_checkpoint": False,
                "steps_per_eval": 1000,
                "stages": [
                    {"name": "basics", "datasets": [SAMPLE], "iterations": 4, "learning_rate": 1e-3},
                    {"name": "polish", "datasets": [SAMPLE], "iterations": 1, "learning_rate": 0.0},
                ],
                **mlx,
            },
        },
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def same_weights(first: Path, second: Path) -> bool:
    import mlx.core as mx

    a, b = mx.load(str(first / "adapters.safetensors")), mx.load(str(second / "adapters.safetensors"))
    return a.keys() == b.keys() and all(mx.array_equal(a[key], b[key]).item() for key in a)


def test_staged_run_resume_fuse_and_gguf(mlx_base, tmp_path):
    from toolset.builtins.exporters import export_gguf
    from toolset.publish.local_apps import OllamaConfig, export_ollama, gguf_chat_template
    from toolset.weights.chat_templates import has_generation_markers
    from toolset.weights.gguf_export import GGUFExportConfig
    from toolset.weights.verify import verify_gguf

    config = write_config(tmp_path, mlx_base)
    run = tmp_path / "run"
    out = invoke("mlx", "train", str(config), "--run-dir", str(run), "--stage", "1", "--test", "Create a note")
    assert "toolset's chatml training template" in out
    assert (run / "final_model" / "adapters.safetensors").is_file()
    invoke("mlx", "train", str(config), "--run-dir", str(run), "--stage", "polish")

    # the run directory of toolset-cuda, plus one folder of adapters per stage
    for name in ("config.yaml", "lineage.json", "checkpoints", "logs/metrics.jsonl", "logs/run.log", "logs/loss.png"):
        assert (run / name).exists(), name
    final = run / "final_model"
    assert {"adapters.safetensors", "adapter_config.json", "tokenizer.json", "toolset.json"} <= {
        p.name for p in final.iterdir()
    }
    lineage = json.loads((run / "lineage.json").read_text())
    assert lineage["method"] == "mlx-lora" and lineage["engine"] == "mlx-lm"
    assert lineage["chat_template"].startswith("chat template: toolset's chatml")
    assert lineage["datasets"][0]["sha256"]
    log = (run / "logs" / "run.log").read_text()
    assert "chat template: toolset's chatml training template" in log and "stage 2/2 polish" in log
    assert json.loads((run / "logs" / "test_basics.jsonl").read_text().splitlines()[0])["prompt"] == "Create a note"

    # metrics: toolset-cuda's keys; steps run on across stages; validation loss falls in stage 1
    rows = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    trained = [row for row in rows if "loss" in row]
    assert trained and all(row.keys() >= CUDA_METRIC_KEYS for row in trained)
    assert all(row["tokens_per_s"] > 0 and row["peak_memory_mb"] > 0 for row in trained)
    assert [row["step"] for row in trained if row["stage"] == "polish"] == [5]
    evals = [row["eval_loss"] for row in rows if row["stage"] == "basics" and "eval_loss" in row]
    assert len(evals) >= 2 and evals[-1] < evals[0]

    # stage 2 (lr 0) started from stage 1's adapters; so does a run resumed from that adapter file
    assert same_weights(run / "stages" / "basics", run / "stages" / "polish")
    resumed = tmp_path / "resumed"
    invoke(
        "mlx",
        "train",
        str(config),
        "--run-dir",
        str(resumed),
        "--stage",
        "2",
        "--resume-adapter",
        str(run / "stages" / "basics"),
    )
    assert same_weights(run / "stages" / "basics", resumed / "final_model")
    result = CliRunner().invoke(
        toolset_cli(), ["mlx", "train", str(config), "--run-dir", str(tmp_path / "x"), "--stage", "2"]
    )
    assert result.exit_code != 0 and "run that stage first" in result.output

    # fuse through the mlx-fuse exporter, then GGUF through the core gguf exporter; llama.cpp loads it
    fused = tmp_path / "fused"
    invoke("export", "mlx-fuse", str(final), str(fused))
    assert (fused / "config.json").is_file() and (fused / "tokenizer.json").is_file()
    gguf = export_gguf(fused, tmp_path / "tuned.gguf", GGUFExportConfig(out_type="f16", verify=False))
    report = verify_gguf(gguf, fused, exact=False)
    assert report.loaded and report.tokenizer_match and any(report.generated)
    template = gguf_chat_template(gguf)
    assert "toolset training template" in template  # the template trained with ...
    assert not has_generation_markers(template)  # ... without the markers llama.cpp cannot parse
    modelfile = export_ollama(gguf, tmp_path / "ollama", OllamaConfig(name="tuned"))
    assert "FROM ./tuned.gguf" in modelfile.read_text() and "<|im_start|>" in modelfile.read_text()


def test_dora_trains_and_fuses(mlx_base, tmp_path):
    import mlx.core as mx

    from toolset.config import LoraConfig, MlxConfig
    from toolset_mlx.lora import fuse, load_model, train_adapter

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Open note {i}"},
                {
                    "role": "assistant",
                    "content": f'<tool_call>{{"name": "open", "arguments": {{"n": {i}}}}}</tool_call>',
                },
            ]
        }
        for i in range(6)
    ]
    metrics: list[dict] = []
    adapters = train_adapter(
        mlx_base,
        rows,
        [],
        tmp_path / "dora",
        lora=LoraConfig(r=4),
        mlx=MlxConfig(fine_tune_type="dora", num_layers=2, batch_size=2, grad_checkpoint=False),
        iterations=6,
        learning_rate=1e-3,
        max_seq_length=256,
        emit=metrics.append,
    )
    assert json.loads((adapters / "adapter_config.json").read_text())["fine_tune_type"] == "dora"
    weights = mx.load(str(adapters / "adapters.safetensors"))
    assert any(key.endswith(".m") for key in weights)  # DoRA's magnitude vectors
    losses = [row["loss"] for row in metrics if "loss" in row]
    assert losses[-1] < losses[0]

    fused = fuse(mlx_base, adapters, tmp_path / "fused")
    tokens = mx.array([[1, 504, 3461, 28, 3]])
    with_adapters, _ = load_model(mlx_base, adapter_path=adapters)
    merged, _ = load_model(fused)
    base, _ = load_model(mlx_base)
    expected, got, untouched = with_adapters(tokens), merged(tokens), base(tokens)
    assert mx.allclose(expected, got, atol=1e-3, rtol=1e-3).item()
    assert not mx.allclose(untouched, got, atol=1e-3, rtol=1e-3).item()
