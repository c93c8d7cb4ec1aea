"""GGUF export of Gemma 3 text models (``gemma3``): a tiny random Gemma3ForCausalLM with a Gemma-shaped SentencePiece
tokenizer trained here, loaded by llama.cpp and compared with transformers token for token."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.model_factory import GEMMA_CONTROL, tiny_gemma
from toolset.errors import ToolsetError
from toolset.weights.gguf_export import convert, read_hyperparameters
from toolset.weights.verify import CHAT, CHAT_TOOLS

pytestmark = [pytest.mark.llama_cpp, pytest.mark.slow]

STRINGS = [
    "Hello world",
    "  two leading spaces",
    "a  b   c    d",
    "line one\nline two\n\nthree",
    "emoji 🎉🛒 and ünïcödé 日本語",
    '{"query": "groceries", "limit": 10}',
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
]


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    pytest.importorskip("sentencepiece", reason="sentencepiece trains the test tokenizer (requirements/dev.txt)")
    return tiny_gemma(tmp_path_factory.mktemp("gemma") / "tiny-gemma3")


def export(source, destination, **options):
    from toolset.builtins.exporters import export_gguf
    from toolset.weights.gguf_export import GGUFExportConfig

    return export_gguf(source, destination, GGUFExportConfig(**options))


def test_tiny_gemma3_f32_agrees_with_hf(gemma, tmp_path):
    """Six layers (five sliding with a window of 8 tokens, shorter than the prompts, then a global one), random
    norm weights: a wrong norm shift, window or rope base shows as low agreement."""
    from gguf import GGUFReader
    from safetensors.numpy import load_file

    from toolset.weights.verify import verify_gguf

    path = export(gemma, tmp_path / "g.gguf", out_type="f32", verify=False)
    report = verify_gguf(path, gemma, exact=False)
    assert report.agreement >= 0.9, report
    assert report.tokenizer_match is True and report.chat_tokenizer_match is True
    reader = GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items() if name.startswith(("general", "gemma"))}
    assert fields["general.architecture"] == "gemma3"
    assert fields["gemma3.attention.sliding_window"] == 8
    assert fields["gemma3.rope.freq_base"] == 1_000_000.0
    assert read_hyperparameters(gemma).architecture == "gemma3"
    tensors = {tensor.name: tensor.data for tensor in reader.tensors}
    weights = load_file(gemma / "model.safetensors")
    assert (
        tensors["blk.0.post_ffw_norm.weight"] == weights["model.layers.0.post_feedforward_layernorm.weight"] + 1
    ).all()
    assert "output.weight" not in tensors  # tied to token_embd


def test_tiny_gemma3_f16_export_verifies_exactly(gemma, tmp_path):
    path = export(gemma, tmp_path, out_type="f16", name="tiny-gemma3")
    report = json.loads(path.with_name(path.name + ".verify.json").read_text())
    assert report["loaded"] and report["compared"]
    assert report["exact"] is True and report["agreement"] == 1.0
    assert report["chat_tokenizer_match"] is True  # the Gemma chat template's rendering, tools and calls included
    from gguf import GGUFReader

    fields = {name: field.contents() for name, field in GGUFReader(path).fields.items() if "merges" not in name}
    assert fields["tokenizer.ggml.model"] == "llama"
    tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    assert tokens[:4] == ["<pad>", "<eos>", "<bos>", "<unk>"]
    assert tokens[4:7] == GEMMA_CONTROL and set(types[4:7]) == {3}
    assert tokens[7:12] == ["\n", "\n\n", "  ", "   ", "    "] and set(types[7:12]) == {4}  # matched in raw text
    assert (fields["tokenizer.ggml.bos_token_id"], fields["tokenizer.ggml.eos_token_id"]) == (2, 1)
    assert fields["tokenizer.ggml.add_bos_token"] is True and fields["tokenizer.ggml.add_space_prefix"] is False
    from toolset.weights.chat_templates import has_generation_markers

    template = fields["tokenizer.chat_template"]
    assert "<start_of_turn>" in template and not has_generation_markers(template)


@pytest.mark.parametrize("variant", ["tokenizer.model", "tokenizer.json"])
def test_llama_cpp_tokenizes_like_the_hf_gemma_tokenizer(gemma, tmp_path, variant):
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from toolset.runs.storage import captured_native_output

    source = gemma
    if variant == "tokenizer.json":
        source = tmp_path / "json-only"
        shutil.copytree(gemma, source)
        (source / "tokenizer.model").unlink()
    tokenizer = AutoTokenizer.from_pretrained(source)
    with captured_native_output():
        llama = Llama(model_path=str(convert(source, tmp_path / "vocab.gguf", "f16")), vocab_only=True, verbose=False)
    chat = tokenizer.apply_chat_template(CHAT, tools=CHAT_TOOLS, tokenize=False, add_generation_prompt=True)
    assert chat.startswith("<bos><start_of_turn>user\nYou manage a notes vault.\n\n# Tools") and "<tool_call>" in chat
    for text in [*STRINGS, chat]:
        for add_special in (False, True):
            ours = llama.tokenize(text.encode(), add_bos=add_special, special=True)
            assert ours == tokenizer.encode(text, add_special_tokens=add_special), text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"final_logit_softcapping": 30.0}, "final_logit_softcapping = 30.0"),
        ({"attn_logit_softcapping": 50.0}, "attn_logit_softcapping = 50.0"),
        ({"query_pre_attn_scalar": 32}, r"query_pre_attn_scalar = 32: llama.cpp scales queries by 1/sqrt\(16\)"),
        ({"layer_types": ["full_attention"] * 6}, "every sixth layer global"),
        ({"sliding_window": None}, "sliding_window = None"),
        ({"rope_parameters": {"sliding_attention": {"rope_theta": 1e6}}}, "sliding layers' rope_theta = 1000000.0"),
        ({"rope_parameters": {"full_attention": {"rope_type": "yarn", "factor": 4.0}}}, "rope_type = 'yarn'"),
    ],
)
def test_what_llama_cpp_cannot_run_is_refused_with_the_field(gemma, tmp_path, change, message):
    source = tmp_path / "changed"
    shutil.copytree(gemma, source)
    config = json.loads((source / "config.json").read_text())
    config.update(change)
    (source / "config.json").write_text(json.dumps(config))
    with pytest.raises(ToolsetError, match=message) as caught:
        convert(source, tmp_path / "x.gguf", "f16")
    assert str(source / "config.json") in str(caught.value)
    assert not (tmp_path / "x.gguf").exists()


def test_linear_rope_scaling_of_the_global_layers_is_written(gemma, tmp_path):
    """Gemma 3 4B and larger scale the global layers' rope linearly (factor 8); llama.cpp reads the factor."""
    from gguf import GGUFReader

    source = tmp_path / "scaled"
    shutil.copytree(gemma, source)
    config = json.loads((source / "config.json").read_text())
    config["rope_parameters"]["full_attention"].update(rope_type="linear", factor=8.0)
    (source / "config.json").write_text(json.dumps(config))
    path = export(source, tmp_path / "s.gguf", out_type="f32")
    fields = {name: field.contents() for name, field in GGUFReader(path).fields.items() if name.startswith("gemma3")}
    assert fields["gemma3.rope.scaling.type"] == "linear" and fields["gemma3.rope.scaling.factor"] == 8.0
    report = json.loads(path.with_name(path.name + ".verify.json").read_text())
    assert report["exact"] is True
