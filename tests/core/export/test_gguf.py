"""GGUF export: written in Python, quantized by llama.cpp's library, loaded and compared with the HF model."""

from __future__ import annotations

import json

import pytest

from tests.model_factory import tiny_model
from toolset.errors import ToolsetError
from toolset.weights.gguf_export import convert, quantization_types, read_hyperparameters

pytestmark = [pytest.mark.llama_cpp, pytest.mark.slow]


def export(source, destination, **options):
    from toolset.builtins.exporters import export_gguf
    from toolset.weights.gguf_export import GGUFExportConfig

    return export_gguf(source, destination, GGUFExportConfig(**options))


def test_embedded_model_f16_matches_hf_greedy(embedded_hf, tmp_path):
    path = export(embedded_hf, tmp_path, out_type="f16", name="smollm2")
    assert path == tmp_path / "smollm2-f16.gguf"
    report = json.loads((tmp_path / "smollm2-f16.gguf.verify.json").read_text())
    assert report["loaded"] and report["compared"]
    assert report["exact"] is True and report["agreement"] == 1.0
    assert report["tokenizer_match"] is True
    assert report["chat_tokenizer_match"] is True  # a tool-calling chat rendered with SmolLM2's own template
    assert all(text.strip() for text in report["generated"])


@pytest.mark.parametrize("out_type", ["q8_0", "q4_k_m"])
def test_embedded_model_quantized_loads_and_reports_agreement(embedded_hf, tmp_path, out_type):
    path = export(embedded_hf, tmp_path, out_type=out_type, name="smollm2")
    report = json.loads(path.with_name(path.name + ".verify.json").read_text())
    assert report["loaded"] and report["compared"]
    assert 0.0 <= report["agreement"] <= 1.0
    f16_size = 2 * 135_000_000
    assert path.stat().st_size < f16_size * (0.6 if out_type == "q8_0" else 0.45)
    assert not list(tmp_path.glob(".*"))  # the f16 intermediate is gone


@pytest.mark.parametrize("architecture", ["llama", "qwen2", "qwen3"])
def test_tiny_models_of_each_architecture_agree_with_hf(embedded_hf, tmp_path, architecture):
    """Random weights make near-ties, so a wrong conversion shows as low agreement rather than one flip."""
    from toolset.weights.verify import verify_gguf

    source = tiny_model(embedded_hf, tmp_path / architecture, architecture)
    path = export(source, tmp_path / "out.gguf", out_type="f32", verify=False)
    report = verify_gguf(path, source, exact=False)
    assert report.agreement >= 0.9, report
    assert report.tokenizer_match is True
    assert read_hyperparameters(source).architecture == architecture


def test_bf16_weights_are_read_and_written(embedded_hf, tmp_path):
    from toolset.weights.verify import verify_gguf

    source = tiny_model(embedded_hf, tmp_path / "bf16", "qwen2", dtype="bfloat16")
    widened = export(source, tmp_path / "m-f32.gguf", out_type="f32", verify=False)  # bf16 -> f32 is lossless
    assert verify_gguf(widened, source, exact=False).agreement >= 0.9
    kept = export(source, tmp_path / "m-bf16.gguf", out_type="bf16", verify=False)
    report = verify_gguf(kept, source, exact=False)
    assert report.loaded and report.agreement > 0.5  # llama.cpp computes in bf16 here, HF in float32


def test_every_llama_cpp_quantization_type_is_offered():
    types = quantization_types()
    assert {"q8_0", "q4_k_m", "q5_k_m", "q6_k", "q4_0"} <= set(types)


def test_clear_errors_for_unsupported_input(tmp_path, embedded_hf):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPTNeoXForCausalLM"]}))
    with pytest.raises(ToolsetError, match="GPTNeoXForCausalLM is not supported yet"):
        convert(tmp_path, tmp_path / "x.gguf")
    with pytest.raises(ToolsetError, match="config.json not found"):
        convert(tmp_path / "missing", tmp_path / "x.gguf")
    no_tokenizer = tiny_model(embedded_hf, tmp_path / "no-tokenizer", "llama")
    (no_tokenizer / "tokenizer.json").unlink()
    with pytest.raises(ToolsetError, match="tokenizer.json not found"):
        convert(no_tokenizer, tmp_path / "y.gguf")
    assert not (tmp_path / "y.gguf").exists()
    with pytest.raises(ToolsetError, match="unknown quantization type 'q9_9'"):
        export(tiny_model(embedded_hf, tmp_path / "q", "llama"), tmp_path / "q.gguf", out_type="q9_9")


def test_interrupted_export_leaves_nothing_that_looks_complete(embedded_hf, tmp_path, monkeypatch):
    from toolset.weights import gguf_export

    source = tiny_model(embedded_hf, tmp_path / "src", "llama")
    real = gguf_export.iter_tensors

    def dies_halfway(model_dir):
        for index, item in enumerate(real(model_dir)):
            if index == 5:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(gguf_export, "iter_tensors", dies_halfway)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        export(source, out / "m.gguf", out_type="q8_0")
    assert list(out.iterdir()) == []


def test_existing_file_is_not_overwritten_silently(embedded_hf, tmp_path):
    source = tiny_model(embedded_hf, tmp_path / "src", "llama")
    export(source, tmp_path / "m.gguf", out_type="f32", verify=False)
    with pytest.raises(ToolsetError, match="already exists"):
        export(source, tmp_path / "m.gguf", out_type="f32")
    export(source, tmp_path / "m.gguf", out_type="f32", overwrite=True, verify=False)
