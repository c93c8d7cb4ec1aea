"""The embedded GGUF becomes a Hugging Face folder with numpy alone, equal to transformers' own GGUF loading."""

from __future__ import annotations

import json

import pytest

from toolset.config import ModelConfig
from toolset.errors import ToolsetError
from toolset.models import embedded_gguf, embedded_model_dir, gguf_to_hf, local_model_dir


@pytest.mark.slow
def test_conversion_matches_transformers_gguf_loader(embedded_hf):
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf()
    theirs = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    their_tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    ours = AutoModelForCausalLM.from_pretrained(embedded_hf, dtype=torch.float32)
    our_tokenizer = AutoTokenizer.from_pretrained(embedded_hf)
    for text in ("Hello world 12345", "<|im_start|>user\nList 3 colours<|im_end|>\n", "  tabs\tand ümlauts €"):
        assert our_tokenizer.encode(text) == their_tokenizer.encode(text)
    ids = torch.tensor([our_tokenizer.encode("The capital of France is")])
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, theirs(ids).logits, atol=1e-5)
    rendered = our_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert rendered.endswith("<|im_start|>user\nhi<|im_end|>\n")


def test_folder_layout(embedded_hf):
    config = json.loads((embedded_hf / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["rope_theta"] == 100000.0  # mlx-lm reads rope_theta, transformers 5 rope_parameters
    assert config["rope_parameters"]["rope_theta"] == 100000.0
    assert config["tie_word_embeddings"] is True
    assert {p.name for p in embedded_hf.iterdir()} >= {
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "generation_config.json",
    }


def test_embedded_model_dir_is_cached(tmp_path, monkeypatch, embedded_hf):
    monkeypatch.setenv("TOOLSET_CACHE_DIR", str(tmp_path))
    first = embedded_model_dir()
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert embedded_model_dir() == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert local_model_dir(ModelConfig(source="embedded")) == first


def test_local_and_missing_models(tmp_path):
    assert local_model_dir(ModelConfig(name=str(tmp_path), source="local")) == tmp_path
    with pytest.raises(ToolsetError, match="not found"):
        local_model_dir(ModelConfig(name=str(tmp_path / "nope"), source="local"))
    with pytest.raises(ToolsetError, match="only llama-architecture|not a GGUF|GGUF"):
        bad = tmp_path / "bad.gguf"
        bad.write_bytes(b"not a gguf file at all")
        gguf_to_hf(bad, tmp_path / "out")
