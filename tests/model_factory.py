"""Tiny randomly initialised models of each supported architecture, for export and training tests."""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def tiny_model(embedded_hf: Path, destination: Path, architecture: str, dtype: str = "float32") -> Path:
    """A randomly initialised tiny model of ``architecture`` that reuses SmolLM2's tokenizer."""
    import torch
    import transformers

    torch.manual_seed(0)
    common = dict(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
    )
    config_class, model_class = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
        "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
    }[architecture]
    extra = {"head_dim": 16} if architecture == "qwen3" else {}
    model = model_class(config_class(**common, **extra, tie_word_embeddings=architecture != "llama"))
    with torch.no_grad():  # larger weights than the initialiser's make greedy decoding less tie-prone
        for parameter in model.parameters():
            parameter.mul_(8.0)
    model.to(getattr(torch, dtype)).save_pretrained(destination)
    for name in TOKENIZER_FILES:
        if (embedded_hf / name).is_file():
            shutil.copy(embedded_hf / name, destination / name)
    return destination
