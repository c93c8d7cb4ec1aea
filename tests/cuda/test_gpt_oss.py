"""gpt-oss end to end on a tiny random model of its architecture: SFT through TRL with toolset's harmony template
(loss on the assistant's calls and answers only), the 20b preset's LoRA targets, merged-16bit equal to base +
adapter, and the pipeline on to a GGUF that llama.cpp loads with an Ollama Modelfile of the harmony family."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cuda.conftest import toolset_cli, write_config
from tests.model_factory import tiny_gpt_oss
from toolset.data.readers import read_conversations, sample_path

pytest.importorskip("trl")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]  # the 20b preset's


@pytest.fixture(scope="module")
def tiny(request, tmp_path_factory) -> Path:
    folder = os.environ.get("TOOLSET_TEST_TOKENIZER")
    source = Path(folder) if folder else request.getfixturevalue("embedded_hf")
    return tiny_gpt_oss(source, tmp_path_factory.mktemp("gpt-oss") / "tiny-gpt-oss")


def test_the_20b_preset_trains_the_gpt_oss_family_with_the_preset_targets():
    from toolset.config import load_config

    config = load_config(preset="20b")
    assert config.model.name == "openai/gpt-oss-20b" and list(config.lora.target_modules) == TARGETS


def test_sft_rows_learn_only_the_harmony_calls(tiny, tmp_path):
    """TRL's own tokenized dataset: every label outside the assistant's harmony messages is -100."""
    from toolset.config import load_config
    from toolset_cuda import engine, training

    config = load_config(
        write_config(tmp_path, tiny, lora={"target_modules": TARGETS}), overrides=["dataset.tools=used"]
    )
    plan = training.plan_run("sft", config)
    assert "toolset's harmony training template" in plan.data.template_note
    model, tok, _notes = engine.load_for_training(config, plan.model_dir, "transformers")
    tok.chat_template = plan.data.chat_template
    dataset = training._build_trainer("sft", plan, model, tok, tmp_path / "run").train_dataset
    users = [c.messages[1].content for c in read_conversations(sample_path("claudesidian_sft.jsonl"))]
    assert len(dataset) == len(plan.data.train)
    for example in dataset:
        ids, labels = example["input_ids"], example["labels"]
        learned = tok.decode([t for t, label in zip(ids, labels, strict=True) if label != -100])
        prompt = tok.decode([t for t, label in zip(ids, labels, strict=True) if label == -100])
        assert learned.startswith("<|channel|>commentary") and learned.endswith("<|call|>")  # a preamble, or the call
        assert " <|constrain|>json<|message|>{" in learned.split("<|channel|>commentary to=functions.")[1]
        assert "<|start|>user" not in learned and not any(user in learned for user in users)
        assert prompt.startswith("<|start|>system<|message|>") and "namespace functions {\n\n// " in prompt
        assert f"type {learned.split('to=functions.')[-1].split(' ')[0]} = (_: " in prompt  # the called tool's type
        assert prompt.endswith("<|start|>assistant")


def test_pipeline_trains_merges_and_exports_a_gguf_llama_cpp_loads(tiny, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from toolset.weights.chat_templates import has_generation_markers
    from toolset.weights.models import _field, open_gguf
    from toolset.weights.verify import verify_gguf

    config = write_config(
        tmp_path,
        tiny,
        lora={"target_modules": TARGETS},
        train={"stages": ["sft"], "sft": {"max_steps": 1, "per_device_batch_size": 1, "save_steps": 1}},
        export={"formats": ["adapter", "merged", "gguf"], "gguf_types": ["f16"], "verify": False},
    )
    root = tmp_path / "pipe"
    result = CliRunner().invoke(toolset_cli(), ["pipeline", str(config), "--run-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert "toolset's harmony training template" in (root / "sft" / "logs" / "run.log").read_text()
    rows = [json.loads(line) for line in (root / "sft" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1] and rows[0]["loss"] > 0
    adapter = json.loads((root / "sft" / "final_model" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == sorted(TARGETS)

    # merged-16bit equals base + adapter merged in memory: same logits, same greedy tokens
    merged = root / "export" / "merged"
    ids = torch.tensor([[1, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200]])  # past the window (8)
    base = AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float16)
    expected_model = PeftModel.from_pretrained(base, str(root / "sft" / "final_model")).merge_and_unload()
    actual_model = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float16)
    with torch.no_grad():
        expected, actual = expected_model(ids).logits, actual_model(ids).logits
        assert torch.equal(expected, actual)
        untrained = AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float16)(ids).logits
        assert not torch.equal(untrained, actual), "the adapter changed the model"
        greedy = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 0}
        assert torch.equal(expected_model.generate(ids, **greedy), actual_model.generate(ids, **greedy))
    template = (merged / "chat_template.jinja").read_text()
    assert "<|channel|>commentary to=functions." in template and not has_generation_markers(template)

    gguf = Path(json.loads((root / "pipeline.json").read_text())["stages"]["export-gguf"]["paths"][0])
    assert _field(open_gguf(gguf), "general.architecture") == "gpt-oss"
    report = verify_gguf(gguf)  # agreement with transformers: tests/core/export/test_gguf_gpt_oss.py
    assert report.loaded and all(text.strip() for text in report.generated)
    modelfile = (root / "export" / "ollama" / "Modelfile").read_text()
    assert 'PARAMETER stop "<|call|>"' in modelfile and "namespace functions {" in modelfile
