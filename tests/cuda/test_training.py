"""Real TRL training on CPU with a tiny llama: SFT, KTO from the SFT adapter, resume after SIGKILL, the pipeline,
the dry run and every bad input (each a clear message before any weights load)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cuda.conftest import toolset_cli, write_config

pytest.importorskip("trl")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow

METRIC_KEYS = {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "samples_per_s", "peak_memory_mb"}


def invoke(*args: str):
    result = CliRunner().invoke(toolset_cli(), list(args), catch_exceptions=False)
    return result


def no_partials(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if ".partial-" in p.name]


def test_sft_then_kto_on_samples_of_the_shared_datasets(tiny_llama, shared_samples, tmp_path):
    config = write_config(tmp_path, tiny_llama, sft=shared_samples["sft"], kto=shared_samples["kto"])
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "sft"))
    assert result.exit_code == 0, result.output
    sft = tmp_path / "sft"
    assert "transformers + PEFT on CPU" in result.output
    assert "toolset's chatml training template" in (sft / "logs" / "run.log").read_text()
    for name in (
        "config.yaml",
        "lineage.json",
        "logs/metrics.jsonl",
        "logs/loss.png",
        "final_model/adapter_model.safetensors",
    ):
        assert (sft / name).is_file(), name
    assert "<tool_call>" in (sft / "final_model" / "chat_template.jinja").read_text()  # the training template
    lineage = json.loads((sft / "lineage.json").read_text())
    assert lineage["method"] == "sft" and lineage["engine"] == "transformers"
    assert lineage["datasets"][0]["path"] == str(shared_samples["sft"]) and len(lineage["datasets"][0]["sha256"]) == 64
    assert {"torch", "trl", "peft", "transformers"} <= set(lineage["packages"])
    rows = [json.loads(line) for line in (sft / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    assert all(set(row) >= METRIC_KEYS for row in rows)
    assert all(row["tokens_per_s"] > 0 for row in rows)

    result = invoke("train", "kto", str(config), "--run-dir", str(tmp_path / "kto"), "--parent", str(sft))
    assert result.exit_code == 0, result.output
    kto = tmp_path / "kto"
    assert "continuing the adapter" in result.output
    lineage = json.loads((kto / "lineage.json").read_text())
    assert lineage["parent_run"] == str(sft) and lineage["data"]["labels"] == {"desirable": 4, "undesirable": 4}
    rows = [json.loads(line) for line in (kto / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert rows and all({"kl", "rewards/chosen", "rewards/rejected"} <= set(row) for row in rows)
    info = json.loads((kto / "final_model" / "toolset.json").read_text())
    assert info["parent_run"] == str(sft) and info["steps"] == 2
    no_partials(tmp_path)


def test_the_kto_data_is_ordered_so_every_batch_holds_both_labels(tiny_llama, tmp_path):
    from toolset.config import load_config
    from toolset_cuda.training import plan_run

    config = load_config(write_config(tmp_path, tiny_llama, train={"kto": {"per_device_batch_size": 4}}))
    plan = plan_run("kto", config)
    labels = [row["label"] for row in plan.data.train]
    chunks = [labels[i : i + 4] for i in range(0, len(labels) - len(labels) % 4, 4)]
    assert chunks and all(set(chunk) == {True, False} for chunk in chunks)


def test_resume_after_sigkill_reaches_the_planned_final_step(tiny_llama, tmp_path):
    config = write_config(
        tmp_path, tiny_llama, train={"sft": {"max_steps": 8, "save_steps": 2, "save_total_limit": None}}
    )
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "toolset", "train", "sft", str(config), "--run-dir", str(run_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file():
        assert process.poll() is None, "training ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "final_model").exists(), "an interrupted run must not leave a model that looks complete"

    again = invoke("train", "sft", str(config), "--run-dir", str(run_dir))
    assert again.exit_code != 0 and "--resume" in again.output
    resumed = invoke("train", "sft", str(config), "--run-dir", str(run_dir), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming from" in resumed.output
    state = json.loads((run_dir / "checkpoints" / "checkpoint-8" / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    assert json.loads((run_dir / "final_model" / "toolset.json").read_text())["steps"] == 8
    steps = [json.loads(line)["step"] for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 8


def test_pipeline_chains_sft_kto_and_exports(tiny_llama, tmp_path):
    config = write_config(
        tmp_path,
        tiny_llama,
        export={"formats": ["adapter", "merged", "gguf"], "gguf_types": ["f16"]},
        eval={
            "after_training": True,
            "limit": 2,
            "tools": "none",
            "max_tokens": 32,
            "prompt_set": "claudesidian-smoke",
        },
    )
    root = tmp_path / "pipe"
    result = invoke("pipeline", str(config), "--run-dir", str(root))
    assert result.exit_code == 0, result.output
    state = json.loads((root / "pipeline.json").read_text())["stages"]
    assert list(state) == ["sft", "kto", "export-adapter", "export-merged", "export-gguf", "eval"]
    assert state["eval"]["cases"] == 2
    assert json.loads((root / "eval" / "report.json").read_text())["metadata"]["tools_offered"] == "none"
    assert json.loads((root / "kto" / "lineage.json").read_text())["parent_run"] == str(root / "sft")
    assert (root / "export" / "adapter" / "adapter_config.json").is_file()
    assert (root / "export" / "merged" / "model.safetensors").is_file()
    gguf = Path(state["export-gguf"]["paths"][0])
    assert gguf.is_file() and gguf.suffix == ".gguf"
    from toolset.weights.chat_templates import has_generation_markers
    from toolset.weights.models import _field, open_gguf

    template = _field(open_gguf(gguf), "tokenizer.chat_template")
    assert "<tool_call>" in template and not has_generation_markers(template), "llama.cpp needs a plain template"
    assert (root / "export" / "ollama" / "Modelfile").is_file()
    again = invoke("pipeline", str(config), "--run-dir", str(root), "--resume")
    assert again.exit_code == 0 and "done earlier" in again.output


def test_merged_export_equals_base_plus_adapter(tiny_llama, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = write_config(tmp_path, tiny_llama)
    assert invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "sft")).exit_code == 0
    merged = tmp_path / "merged"
    result = invoke("export", "merged-16bit", str(tmp_path / "sft"), str(merged), "--option", "dtype=bfloat16")
    assert result.exit_code == 0, result.output
    ids = torch.tensor([[1, 200, 300, 400]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama), dtype=torch.bfloat16)
    expected = PeftModel.from_pretrained(base, str(tmp_path / "sft" / "final_model")).merge_and_unload()(ids).logits
    actual = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.bfloat16)(ids).logits
    assert torch.allclose(expected, actual, atol=1e-2)
    assert invoke("export", "lora", str(tmp_path / "sft"), str(tmp_path / "lora")).exit_code == 0
    assert (tmp_path / "lora" / "adapter_model.safetensors").is_file()


def test_merged_4bit_is_refused_without_a_gpu(tiny_llama, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = invoke("export", "merged-4bit", str(tmp_path), str(tmp_path / "out"))
    assert result.exit_code == 1 and "cannot run here" in result.output and "CUDA GPU" in result.output


def test_dry_run_prints_examples_counts_steps_and_memory_without_loading_weights(tiny_llama, tmp_path, monkeypatch):
    from toolset_cuda import engine

    monkeypatch.setattr(engine, "load_for_training", _no_weights)
    config = write_config(tmp_path, tiny_llama)
    result = invoke("train", "sft", str(config), "--dry-run", "--set", "train.sft.max_steps=null")
    assert result.exit_code == 0, result.output
    for text in ("19 conversations", "tokens per example", "steps: 30", "memory (rough)", "<|im_start|>assistant"):
        assert text in result.output
    assert not (tmp_path / "runs").exists()


def test_dry_run_says_before_training_whether_gguf_export_can_take_the_architecture(tiny_llama, tmp_path, monkeypatch):
    import shutil

    from toolset_cuda import engine

    monkeypatch.setattr(engine, "load_for_training", _no_weights)
    export = {"formats": ["adapter", "gguf"], "verify": False}
    result = invoke("train", "sft", str(write_config(tmp_path, tiny_llama, export=export)), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "export: GGUF (q8_0) supported for this architecture" in result.output
    other = shutil.copytree(tiny_llama, tmp_path / "phi3")
    meta = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(meta | {"architectures": ["Phi3ForCausalLM"]}))
    result = invoke("train", "sft", str(write_config(tmp_path, other, export=export)), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "GGUF export is not possible" in result.output and "Phi3ForCausalLM is not supported yet" in result.output


def _no_weights(*args, **kwargs):
    raise AssertionError("weights were loaded")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.name=no-such-org/no-such-model", "model.source=hub"], "cannot get no-such-org/no-such-model"),
        (["dataset.kto=[{only_true}]"], "holds only label=true (desirable) examples"),
        (["train.kto.per_device_batch_size=1"], "needs at least 2"),
        (["model.max_seq_length=64"], "longer than max length 64 tokens"),
        (["dataset.kto=[missing.jsonl]"], "missing.jsonl: file not found"),
    ],
)
def test_bad_input_is_a_clear_message_before_weights_load(tiny_llama, tmp_path, monkeypatch, overrides, message):
    from toolset_cuda import engine

    monkeypatch.setattr(engine, "load_for_training", _no_weights)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    only_true = tmp_path / "true.jsonl"
    from toolset.data.readers import sample_path

    lines = sample_path("claudesidian_kto.jsonl").read_text().splitlines()
    only_true.write_text("\n".join(line for line in lines if '"label": true' in line) + "\n")
    config = write_config(tmp_path, tiny_llama)
    args = [arg.format(only_true=only_true) for arg in overrides]
    result = invoke("train", "kto", str(config), *[x for a in args for x in ("--set", a)])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_output_folder_holding_a_run_and_too_little_disk_are_refused(tiny_llama, tmp_path, monkeypatch):
    import shutil

    from toolset_cuda import engine

    monkeypatch.setattr(engine, "load_for_training", _no_weights)
    config = write_config(tmp_path, tiny_llama)
    held = tmp_path / "held"
    held.mkdir()
    (held / "lineage.json").write_text("{}")
    result = invoke("train", "sft", str(config), "--run-dir", str(held))
    assert result.exit_code == 1 and "already holds a run" in result.output

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1024))
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "new"))
    assert result.exit_code == 1 and "not enough free disk" in result.output


def test_two_processes_agree_and_only_rank_zero_writes(tiny_llama, tmp_path):
    config = write_config(tmp_path, tiny_llama)
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("TOOLSET_LAUNCHED", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolset",
            "train",
            "sft",
            str(config),
            "--run-dir",
            str(run_dir),
            "--num-processes",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ranks agree" in result.stdout
    assert json.loads((run_dir / "lineage.json").read_text())["world_size"] == 2
    assert (run_dir / "final_model" / "adapter_model.safetensors").is_file()
    assert len((run_dir / "logs" / "run.log").read_text().splitlines()) > 3
    assert result.stdout.count("final model:") == 1


@pytest.mark.gpu
def test_unsloth_4bit_path_on_a_gpu(tiny_llama, tmp_path):
    pytest.importorskip("unsloth")
    config = write_config(tmp_path, tiny_llama, model={"load_in_4bit": True, "dtype": "auto"})
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "gpu"))
    assert result.exit_code == 0, result.output
    assert "Unsloth FastLanguageModel on CUDA" in result.output
    assert json.loads((tmp_path / "gpu" / "lineage.json").read_text())["engine"] == "unsloth"


def test_lora_layers_adapts_only_the_last_layers(tiny_llama, tmp_path):
    from safetensors import safe_open

    total = json.loads((tiny_llama / "config.json").read_text())["num_hidden_layers"]
    config = write_config(tmp_path, tiny_llama, lora={"layers": 1})
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "sft"))
    assert result.exit_code == 0, result.output
    final = tmp_path / "sft" / "final_model"
    assert json.loads((final / "adapter_config.json").read_text())["layers_to_transform"] == [total - 1]
    with safe_open(str(final / "adapter_model.safetensors"), "pt") as weights:
        layers = {key.split(".layers.")[1].split(".")[0] for key in weights.keys()}  # noqa: SIM118
    assert layers == {str(total - 1)}
