"""GGUF export of SentencePiece ("llama" vocabulary) models, Mistral-shaped: a tiny random MistralForCausalLM
with a real SentencePiece tokenizer trained here, checked against llama.cpp and the Hugging Face tokenizer."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.model_factory import MISTRAL_CONTROL, tiny_mistral, train_sentencepiece
from toolset.errors import ToolsetError
from toolset.weights.gguf_export import convert
from toolset.weights.verify import CHAT, CHAT_TOOLS

pytestmark = [pytest.mark.llama_cpp, pytest.mark.slow]

STRINGS = [
    "Hello world",
    "  two leading spaces",
    "trailing space ",
    "a  b   c",
    "line one\nline two\n\n",
    "tab\there",
    "emoji 🎉🛒 and ünïcödé 日本語",
    '{"query": "groceries", "limit": 10}',
    "x",
    "1234567",
]
AFTER = ["[INST]", "[INST] ", "[/INST]", "<s>[TOOL_RESULTS] "]  # pieces of text after special tokens


@pytest.fixture(scope="module")
def mistral(tmp_path_factory):
    pytest.importorskip("sentencepiece", reason="sentencepiece trains the test tokenizer (requirements/dev.txt)")
    return tiny_mistral(tmp_path_factory.mktemp("mistral") / "tiny-mistral")


def export(source, destination, **options):
    from toolset.builtins.exporters import export_gguf
    from toolset.weights.gguf_export import GGUFExportConfig

    return export_gguf(source, destination, GGUFExportConfig(**options))


def metadata(path):
    from gguf import GGUFReader

    fields = GGUFReader(path).fields
    return {name: field.contents() for name, field in fields.items() if not name.startswith("tokenizer.ggml.merges")}


def llama_vocab(path):
    from llama_cpp import Llama

    from toolset.runs.storage import captured_native_output

    with captured_native_output():
        return Llama(model_path=str(path), vocab_only=True, verbose=False)


def pieces(tokenizer, ids):
    return tokenizer.convert_ids_to_tokens(ids)


def test_sentencepiece_reader_matches_the_sentencepiece_library(mistral):
    import sentencepiece as spm

    from toolset.weights.gguf_vocab import BYTE, CONTROL, UNKNOWN, read_sentencepiece

    model = read_sentencepiece(mistral / "tokenizer.model")
    reference = spm.SentencePieceProcessor(model_file=str(mistral / "tokenizer.model"))
    assert len(model.pieces) == reference.get_piece_size()
    for index, (text, score, kind) in enumerate(model.pieces):
        assert text == reference.id_to_piece(index)
        assert score == pytest.approx(reference.get_score(index))
        assert (kind == CONTROL, kind == BYTE, kind == UNKNOWN) == (
            reference.is_control(index),
            reference.is_byte(index),
            reference.is_unknown(index),
        )
    assert (model.model_type, model.byte_fallback, model.add_dummy_prefix) == ("bpe", True, True)
    assert model.special_ids == {"unk": 0, "bos": 1, "eos": 2, "pad": -1}


@pytest.mark.parametrize("out_type", ["f16", "q8_0"])
def test_mistral_exports_load_and_match_hf(mistral, tmp_path, out_type):
    path = export(mistral, tmp_path, out_type=out_type, name="tiny-mistral")
    report = json.loads(path.with_name(path.name + ".verify.json").read_text())
    assert report["loaded"] and report["compared"]
    assert report["chat_tokenizer_match"] is True  # the chat template's rendering, tools and tool calls included
    if out_type == "f16":
        assert report["exact"] is True and report["agreement"] == 1.0  # greedy tokens identical to HF's
    else:
        assert 0.0 <= report["agreement"] <= 1.0
    meta = metadata(path)
    assert meta["general.architecture"] == "llama"
    assert meta["tokenizer.ggml.model"] == "llama"
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert tokens[:3] == ["<unk>", "<s>", "</s>"] and types[:3] == [2, 3, 3]
    assert tokens[3:10] == MISTRAL_CONTROL and set(types[3:10]) == {3}
    assert tokens[10:266] == [f"<0x{byte:02X}>" for byte in range(256)] and set(types[10:266]) == {6}
    assert len(meta["tokenizer.ggml.scores"]) == len(tokens)
    assert (meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"]) == (1, 2)
    assert meta["tokenizer.ggml.unknown_token_id"] == 0
    assert meta["tokenizer.ggml.add_bos_token"] is True and meta["tokenizer.ggml.add_space_prefix"] is False
    assert "[TOOL_CALLS]" in meta["tokenizer.chat_template"] and "generation" not in meta["tokenizer.chat_template"]


def _variant(mistral, tmp_path, variant):
    if variant == "tokenizer.model":
        return mistral
    source = tmp_path / variant
    shutil.copytree(mistral, source)
    (source / "tokenizer.model").unlink()
    if variant == "prepend-normalizer":  # tokenizer.json as older transformers wrote Llama 2's: ▁ before all text
        tokenizer = json.loads((source / "tokenizer.json").read_text())
        tokenizer["normalizer"] = {
            "type": "Sequence",
            "normalizers": [
                {"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
            ],
        }
        tokenizer["pre_tokenizer"] = None
        (source / "tokenizer.json").write_text(json.dumps(tokenizer))
    return source


@pytest.mark.parametrize("variant", ["tokenizer.model", "tokenizer.json", "prepend-normalizer"])
def test_llama_cpp_tokenizes_like_the_hf_tokenizer(mistral, tmp_path, variant):
    from transformers import AutoTokenizer

    source = _variant(mistral, tmp_path, variant)
    tokenizer = AutoTokenizer.from_pretrained(source)
    llama = llama_vocab(convert(source, tmp_path / "vocab.gguf", "f16"))

    def both(text, add_special=False):
        ours = llama.tokenize(text.encode(), add_bos=add_special, special=True)
        return tokenizer.encode(text, add_special_tokens=add_special), ours

    for text in STRINGS:
        for before in AFTER:
            hf, ours = both(before + text)
            assert ours == hf, (before + text, pieces(tokenizer, hf), pieces(tokenizer, ours))
    chat = tokenizer.apply_chat_template(CHAT, tools=CHAT_TOOLS, tokenize=False, add_generation_prompt=True)
    assert "[AVAILABLE_TOOLS]" in chat and "[TOOL_CALLS]" in chat and "🛒" in chat
    hf, ours = both(chat)
    assert ours == hf
    for text in STRINGS:  # at the very start of the input
        hf, ours = both(text, add_special=True)
        assert hf[0] == ours[0] == 1  # BOS
        if variant == "prepend-normalizer" or text.startswith(" "):
            assert ours == hf, (text, pieces(tokenizer, hf), pieces(tokenizer, ours))
        else:
            # Metaspace's "first" scheme puts ▁ before the start of the input only; llama.cpp can put it before
            # every piece of text or none, and the export chooses none so that all of a chat prompt matches.
            assert "".join(pieces(tokenizer, hf[1:])) == "▁" + "".join(pieces(tokenizer, ours[1:]))


def test_unsupported_tokenizers_say_not_supported_yet(mistral, tmp_path):
    def folder(name):
        target = tmp_path / name
        target.mkdir()
        shutil.copy(mistral / "config.json", target / "config.json")
        for weights in mistral.glob("*.safetensors"):
            shutil.copy(weights, target / weights.name)
        return target

    unigram = folder("unigram")
    train_sentencepiece(unigram, model_type="unigram", vocab_size=400)
    with pytest.raises(ToolsetError, match=r"tokenizer.model: SentencePiece unigram tokenizers are not supported yet"):
        convert(unigram, tmp_path / "u.gguf")
    assert not (tmp_path / "u.gguf").exists()

    wordpiece = folder("wordpiece")
    model = {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}
    (wordpiece / "tokenizer.json").write_text(json.dumps({"model": model, "added_tokens": []}))
    with pytest.raises(ToolsetError, match=r"tokenizer.json: WordPiece tokenizers are not supported yet"):
        convert(wordpiece, tmp_path / "w.gguf")

    broken = folder("broken")
    (broken / "tokenizer.model").write_bytes(b"\xff\xff\xff")
    with pytest.raises(ToolsetError, match=r"tokenizer.model: not a readable SentencePiece model"):
        convert(broken, tmp_path / "b.gguf")

    bad_json = folder("bad-json")
    (bad_json / "tokenizer.json").write_text('{"model": {"type": "BPE",\n  oops}')
    with pytest.raises(ToolsetError, match=r"tokenizer.json: line 2: not valid JSON"):
        convert(bad_json, tmp_path / "j.gguf")


def test_ollama_modelfile_of_a_mistral_export(mistral, tmp_path):
    from toolset.publish.local_apps import MISTRAL_TEMPLATE, export_ollama

    gguf = convert(mistral, tmp_path / "tiny-mistral-f16.gguf", "f16")
    modelfile = export_ollama(gguf, tmp_path / "ollama").read_text()  # family read from the GGUF's template
    assert f'TEMPLATE """{MISTRAL_TEMPLATE}"""' in modelfile
    assert "[AVAILABLE_TOOLS]" in MISTRAL_TEMPLATE and "[TOOL_CALLS]" in MISTRAL_TEMPLATE
    assert 'PARAMETER stop "</s>"' in modelfile and 'PARAMETER stop "[INST]"' in modelfile
