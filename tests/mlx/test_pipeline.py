"""``toolset pipeline`` with ``train.stages: [mlx-lora]``: the same command, run layout, metrics rows and
pipeline.json as on CUDA — train (resuming after a failed curriculum stage), fuse, GGUF, Ollama, eval, and a
resume that re-runs nothing. Real mlx-lm on the CPU, the tiny random llama, llama.cpp for GGUF and eval."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from toolset.data.readers import sample_path

pytestmark = [pytest.mark.mlx, pytest.mark.llama_cpp, pytest.mark.slow]

SAMPLE = sample_path("claudesidian_sft.jsonl")
METRIC_KEYS = {"stage", "step", "epoch", "loss", "lr", "tokens_per_s", "samples_per_s", "peak_memory_mb"}


def pipeline(*args: str, script: bool = False) -> tuple[int, str]:
    """``toolset pipeline ARGS`` in-process, or (``script``) through the ``toolset`` script in a subprocess."""
    if script:
        command = [sys.executable, "-c", "from toolset.cli import main; main()", "pipeline", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        code, output = done.returncode, done.stdout + done.stderr
    else:
        from toolset.cli import cli

        result = CliRunner().invoke(cli, ["pipeline", *args], catch_exceptions=False)
        code, output = result.exit_code, result.output
    assert "Traceback" not in output
    return code, output


def test_mlx_pipeline_trains_exports_evaluates_and_resumes(mlx_base, tmp_path):
    from toolset.weights.verify import verify_gguf

    later = tmp_path / "later.jsonl"  # the second curriculum stage's data: one conversation at first
    later.write_text(SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output_dir": str(tmp_path / "runs"),
                "model": {"name": str(mlx_base), "source": "local", "dtype": "float32", "max_seq_length": 2048},
                "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                "dataset": {"sft": [str(SAMPLE)], "eval_fraction": 0.0, "tool_call_style": "native"},
                "train": {
                    "stages": ["mlx-lora"],
                    "mlx": {
                        "num_layers": 2,
                        "batch_size": 2,
                        "grad_checkpoint": False,
                        "lr_schedule": "cosine",  # set in the config: the pipeline has no --lr-schedule
                        "warmup_steps": 1,
                        "stages": [
                            {"name": "basics", "datasets": [str(SAMPLE)], "iterations": 3, "learning_rate": 1e-3},
                            {"name": "polish", "datasets": [str(later)], "iterations": 1, "learning_rate": 1e-4},
                        ],
                    },
                },
                # verify: greedy tokens of a random tiny model at f16 differ from float32 ones on near ties; the GGUF
                # is checked below the way test_end_to_end checks the fused model's
                "export": {"formats": ["adapter", "merged", "gguf"], "gguf_types": ["f16"], "verify": False},
                "eval": {
                    "after_training": True,
                    "limit": 2,
                    "concurrency": 1,
                    "tools": "none",
                    "max_tokens": 16,
                    "prompt_set": "claudesidian-smoke",
                },
            }
        ),
        encoding="utf-8",
    )
    root = tmp_path / "pipe"
    run = root / "mlx-lora"

    # stage 2 has too little data: one clear message after stage 1 finished; no final model
    code, output = pipeline(str(config), "--run-dir", str(root))
    assert code == 1 and "stage polish: 1 training rows, fewer than batch_size 2" in output, output
    assert (run / "stages" / "basics" / "adapters.safetensors").is_file() and not (run / "final_model").exists()
    code, output = pipeline(str(config), "--run-dir", str(root))
    assert code == 1 and "already holds a run: add --resume" in output

    shutil.copy(SAMPLE, later)  # more data; then resume
    code, output = pipeline(str(config), "--run-dir", str(root), "--dry-run")
    assert code == 0, output
    assert "== mlx-lora ==" in output and "stage 2/2 polish: " in output and "1 iterations" in output
    assert "lr 0.0001 (cosine after 1 warm-up steps)" in output
    assert "then export: adapter, merged, gguf; eval: True" in output

    code, output = pipeline(str(config), "--run-dir", str(root), "--resume", script=True)
    assert code == 0, output
    assert "resuming: stage(s) basics done earlier" in output

    # the run directory of toolset-cuda's stages, under ROOT/STAGE
    for name in ("config.yaml", "lineage.json", "logs/metrics.jsonl", "logs/run.log", "logs/loss.png"):
        assert (run / name).is_file(), name
    final = run / "final_model"
    assert {"adapters.safetensors", "adapter_config.json", "tokenizer.json", "toolset.json"} <= {
        p.name for p in final.iterdir()
    }
    lineage = json.loads((run / "lineage.json").read_text())
    assert lineage["method"] == "mlx-lora" and lineage["parent_run"] is None
    rows = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    trained = [row for row in rows if "loss" in row]
    assert trained and all(row.keys() >= METRIC_KEYS for row in trained)
    steps = {stage: [row["step"] for row in trained if row["stage"] == stage] for stage in ("basics", "polish")}
    assert steps == {"basics": [1, 2, 3], "polish": [4]}  # basics was not trained again
    # train.mlx.lr_schedule and warmup_steps from the config: one warm-up step, then cosine over each stage
    assert [row["lr"] for row in trained] == pytest.approx([0.0, 1e-3, 5e-4, 1e-4], rel=1e-5)

    state = json.loads((root / "pipeline.json").read_text())["stages"]
    assert list(state) == ["mlx-lora", "export-adapter", "export-merged", "export-gguf", "eval"]
    assert state["mlx-lora"]["final_model"] == str(final) and state["mlx-lora"]["steps"] == 4
    assert state["export-merged"]["exporter"] == "mlx-fuse"
    assert (root / "export" / "adapter" / "adapters.safetensors").is_file()
    assert (root / "export" / "merged" / "config.json").is_file()
    gguf = Path(state["export-gguf"]["paths"][0])
    report = verify_gguf(gguf, root / "export" / "merged", exact=False)
    assert gguf.suffix == ".gguf" and report.loaded and report.tokenizer_match and any(report.generated)
    assert (root / "export" / "ollama" / "Modelfile").is_file()
    evaluation = json.loads((root / "eval" / "report.json").read_text())
    assert evaluation["summary"]["cases"] == 2 and state["eval"]["cases"] == 2

    # a finished pipeline resumed: every stage is done earlier, nothing is written again
    before = {path: path.stat().st_mtime_ns for path in (run / "logs" / "metrics.jsonl", gguf, final)}
    code, output = pipeline(str(config), "--run-dir", str(root), "--resume")
    assert code == 0, output
    assert output.count("done earlier") == 5
    assert before == {path: path.stat().st_mtime_ns for path in before}


def test_a_missing_dataset_of_a_later_stage_stops_before_training(mlx_base, tmp_path):
    missing = tmp_path / "missing.jsonl"
    config = tmp_path / "config.yaml"
    stages = [{"name": "basics", "datasets": [str(SAMPLE)]}, {"name": "polish", "datasets": [str(missing)]}]
    config.write_text(
        yaml.safe_dump(
            {
                "model": {"name": str(mlx_base), "source": "local"},
                "train": {"stages": ["mlx-lora"], "mlx": {"stages": stages}},
                "export": {"formats": ["adapter"]},
            }
        ),
        encoding="utf-8",
    )
    code, output = pipeline(str(config), "--run-dir", str(tmp_path / "pipe"))
    assert code == 1 and f"stage polish: dataset {missing} not found" in output, output
    assert not (tmp_path / "pipe" / "mlx-lora" / "stages").exists()


def test_command_options_override_the_configured_schedule():
    from toolset.config import load_config
    from toolset_mlx.trainer import MlxTrainOptions, schedule_text

    config = load_config(overrides=["train.mlx.lr_schedule=cosine", "train.mlx.warmup_steps=5"])
    assert schedule_text(config, MlxTrainOptions()) == "cosine after 5 warm-up steps"
    assert schedule_text(config, MlxTrainOptions(lr_schedule="constant", warmup_steps=0)) == "constant"
    assert schedule_text(load_config(), MlxTrainOptions(warmup_steps=3)) == "constant after 3 warm-up steps"
