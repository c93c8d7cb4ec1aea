"""Gemma 3 through the real trainer on CPU: a tiny random Gemma3ForCausalLM gets the Gemma training template, trains
two SFT steps, is merged with its LoRA adapter and exported to a GGUF that llama.cpp runs like transformers."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from tests.cuda.conftest import toolset_cli, write_config
from tests.model_factory import tiny_gemma
from toolset.data.readers import sample_path

pytest.importorskip("trl")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow


def invoke(*args: str):
    return CliRunner().invoke(toolset_cli(), list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    pytest.importorskip("sentencepiece", reason="sentencepiece trains the test tokenizer (requirements/dev.txt)")
    return tiny_gemma(tmp_path_factory.mktemp("gemma") / "tiny-gemma3")


def test_a_gemma_model_without_a_chat_template_gets_the_gemma_training_template(gemma, tmp_path, monkeypatch):
    from toolset_cuda import engine

    monkeypatch.setattr(engine, "load_for_training", _no_weights)
    bare = tmp_path / "bare"
    shutil.copytree(gemma, bare)
    (bare / "chat_template.jinja").unlink()
    result = invoke("train", "sft", str(write_config(tmp_path, bare)), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "toolset's gemma training template (the model's own has no chat template)" in result.output
    assert "<start_of_turn>model\n<tool_call>" in result.output
    assert not (tmp_path / "runs").exists()


def _no_weights(*args, **kwargs):
    raise AssertionError("weights were loaded")


@pytest.mark.llama_cpp
def test_sft_then_merge_then_gguf_agrees_with_transformers(gemma, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    short = {"sft": [str(sample_path("quickstart_sft.jsonl"))], "tools": "none"}  # short examples: seconds per step
    config = write_config(tmp_path, gemma, dataset=short, model={"max_seq_length": 512})
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "sft"))
    assert result.exit_code == 0, result.output
    lineage = json.loads((tmp_path / "sft" / "lineage.json").read_text())
    assert lineage["chat_template"].startswith("chat template: the model's own")  # tiny_gemma saves gemma.jinja
    final = tmp_path / "sft" / "final_model"
    assert "<start_of_turn>model" in (final / "chat_template.jinja").read_text()

    merged = tmp_path / "merged"
    result = invoke("export", "merged-16bit", str(tmp_path / "sft"), str(merged))
    assert result.exit_code == 0, result.output
    ids = torch.tensor([[2, 5, 200, 300, 400, 6]])
    base = AutoModelForCausalLM.from_pretrained(str(gemma), dtype=torch.float32)
    with torch.no_grad():
        before = base(ids).logits
        expected = PeftModel.from_pretrained(base, str(final)).merge_and_unload()(ids).logits
        actual = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32)(ids).logits
    assert not torch.allclose(before, expected), "two SFT steps changed the model"
    assert torch.allclose(expected, actual, rtol=1e-2, atol=1e-2 * expected.abs().max().item())

    out = tmp_path / "gguf"
    result = invoke("export", "gguf", str(merged), str(out), "--option", "out_type=f16")
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*.gguf")
    report = json.loads(path.with_name(path.name + ".verify.json").read_text())
    assert report["exact"] is True and report["agreement"] == 1.0  # f16: token for token, or the export fails
    assert report["tokenizer_match"] is True and report["chat_tokenizer_match"] is True
