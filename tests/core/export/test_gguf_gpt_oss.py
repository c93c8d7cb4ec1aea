"""GGUF export of gpt-oss (``GptOssForCausalLM``: experts, router, attention sinks, sliding/full attention, YaRN),
shown on a tiny random model of that architecture: llama.cpp loads it and computes what transformers computes."""

from __future__ import annotations

import json

import pytest

from tests.model_factory import tiny_gpt_oss
from toolset.errors import ToolsetError
from toolset.weights.gguf_export import convert, read_hyperparameters

pytestmark = [pytest.mark.llama_cpp, pytest.mark.slow]
# Longer than the tiny model's sliding window (8), so that both kinds of attention layer matter.
TEXT = "The capital of France is a city with many museums, and the river runs through the middle of it all year."


@pytest.fixture(scope="module")
def tiny(embedded_hf, tmp_path_factory):
    return tiny_gpt_oss(embedded_hf, tmp_path_factory.mktemp("gpt-oss") / "tiny-gpt-oss")


def export(source, destination, **options):
    from toolset.builtins.exporters import export_gguf
    from toolset.weights.gguf_export import GGUFExportConfig

    return export_gguf(source, destination, GGUFExportConfig(**options))


def test_f32_export_loads_and_agrees_with_transformers(tiny, tmp_path):
    """Random weights make near-ties (and llama.cpp keeps its KV cache in f16), so greedy agreement is checked as
    for the other tiny architectures; the logits test below compares exactly."""
    import gguf

    from toolset.weights.verify import verify_gguf

    path = export(tiny, tmp_path / "oss-f32.gguf", out_type="f32", verify=False)
    report = verify_gguf(path, tiny, exact=False)
    assert report.agreement >= 0.9, report
    assert report.tokenizer_match is True and report.chat_tokenizer_match is True
    assert "rounds YaRN's correction range" in report.detail
    reader = gguf.GGUFReader(path)
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    assert field("general.architecture") == "gpt-oss"
    assert (field("gpt-oss.expert_count"), field("gpt-oss.expert_used_count")) == (4, 2)
    assert field("gpt-oss.attention.sliding_window") == 8
    assert field("gpt-oss.rope.scaling.type") == "yarn" and field("gpt-oss.rope.scaling.factor") == 32.0
    assert field("gpt-oss.rope.scaling.original_context_length") == 4096
    assert "<|channel|>commentary to=functions." in field("tokenizer.chat_template")
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    assert list(tensors["blk.0.attn_sinks.weight"].shape) == [4]
    for part, shape in (("gate", [64, 32, 4]), ("up", [64, 32, 4]), ("down", [32, 64, 4])):  # in, out, experts
        assert list(tensors[f"blk.1.ffn_{part}_exps.weight"].shape) == shape
        assert tensors[f"blk.1.ffn_{part}_exps.bias"].tensor_type == gguf.GGMLQuantizationType.F32


def test_logits_match_transformers_given_llama_cpps_yarn_rounding(tiny, tmp_path):
    """With a float32 KV cache, llama.cpp's logits equal transformers' at every position once transformers rounds
    YaRN's correction range as llama.cpp does; with gpt-oss's own truncate: false they drift apart."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolset.weights.gguf_gpt_oss import reference_config

    path = convert(tiny, tmp_path / "oss-f32.gguf", "f32")
    ids = AutoTokenizer.from_pretrained(tiny).encode(TEXT, add_special_tokens=False)
    assert len(ids) > 16
    llama = Llama(model_path=str(path), n_ctx=128, logits_all=True, verbose=False, type_k=0, type_v=0, n_threads=2)
    llama.eval(ids)
    got = np.array(llama.scores[: len(ids)])
    with torch.no_grad():
        rounded = AutoModelForCausalLM.from_pretrained(tiny, config=reference_config(tiny), dtype=torch.float32)
        own = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
        expected = rounded(torch.tensor([ids])).logits[0].numpy()
        reference = own(torch.tensor([ids])).logits[0].numpy()
    assert np.abs(got - expected).max() < 0.01
    assert (got.argmax(-1) == expected.argmax(-1)).all()
    assert np.abs(got - reference).max() > 0.01, "llama.cpp now matches truncate: false: drop reference_config"


def test_o200k_pre_tokenizer_is_written_as_gpt_4o_and_tokenizes_like_transformers(tiny, tmp_path):
    """gpt-oss's tokenizer splits text with the o200k regex; llama.cpp knows it as the ``gpt-4o`` pre-tokenizer."""
    import shutil

    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from toolset.weights.gguf_vocab import _O200K_REGEX

    folder = tmp_path / "o200k"
    shutil.copytree(tiny, folder)
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": _O200K_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ],
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    path = convert(folder, tmp_path / "o200k.gguf", "f32")
    import gguf

    assert gguf.GGUFReader(path).fields["tokenizer.ggml.pre"].contents() == "gpt-4o"
    hf = AutoTokenizer.from_pretrained(folder)
    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    for text in (TEXT, "Don't STOP 12345 numbers!\n\n  indented\tcode() // ok", "<|start|>user<|message|>Hi<|end|>"):
        assert vocab.tokenize(text.encode(), add_bos=False, special=True) == hf.encode(text, add_special_tokens=False)


def test_q4_k_m_the_20b_presets_type_quantizes_and_loads(tiny, tmp_path):
    from toolset.weights.verify import verify_gguf

    path = export(tiny, tmp_path, out_type="q4_k_m", name="oss", verify=False)
    assert path.name == "oss-q4_k_m.gguf" and path.stat().st_size < (tiny / "model.safetensors").stat().st_size / 2
    report = verify_gguf(path)
    assert report.loaded and all(text.strip() for text in report.generated)


def test_mxfp4_experts_and_unsupported_settings_are_refused_clearly(tiny, tmp_path):
    import shutil

    import numpy as np

    from toolset.weights.safetensors_io import write_safetensors

    folder = tmp_path / "mxfp4"
    shutil.copytree(tiny, folder)
    config = json.loads((folder / "config.json").read_text())
    write_safetensors(
        folder / "model.safetensors", {"model.layers.0.mlp.experts.down_proj_blocks": np.zeros((4, 16), "u1")}
    )
    (folder / "config.json").write_text(json.dumps({**config, "quantization_config": {"quant_method": "mxfp4"}}))
    with pytest.raises(ToolsetError, match="MXFP4-quantized experts.*merged-16bit"):
        convert(folder, tmp_path / "x.gguf")
    (folder / "config.json").write_text(json.dumps({**config, "layer_types": ["full_attention", "sliding_attention"]}))
    with pytest.raises(ToolsetError, match="layer_types.*alternates sliding-window and full attention"):
        read_hyperparameters(folder)
    (folder / "config.json").write_text(json.dumps({**config, "swiglu_limit": 10.0}))
    with pytest.raises(ToolsetError, match=r"swiglu_limit = 10.0: llama.cpp's gpt-oss uses 7.0"):
        read_hyperparameters(folder)
    assert read_hyperparameters(tiny).architecture == "gpt-oss"
    assert not (tmp_path / "x.gguf").exists()
