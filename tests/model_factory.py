"""Tiny randomly initialised models of each supported architecture, for export and training tests."""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
# The shape every tiny test model shares (2 layers of width 64), with its special token ids.
TINY_SHAPE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    bos_token_id=1,
    eos_token_id=2,
)


def _build(model_class, config, destination: Path, dtype: str):
    """A seeded random model of ``model_class`` with weights scaled up (greedy decoding is less tie-prone then)."""
    import torch

    torch.manual_seed(0)
    model = model_class(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(8.0)
    model.to(getattr(torch, dtype)).save_pretrained(destination)


def tiny_model(embedded_hf: Path, destination: Path, architecture: str, dtype: str = "float32") -> Path:
    """A randomly initialised tiny model of ``architecture`` that reuses SmolLM2's tokenizer."""
    import transformers

    config_class, model_class = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
        "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
    }[architecture]
    extra = {"head_dim": 16} if architecture == "qwen3" else {}
    config = config_class(vocab_size=49152, **TINY_SHAPE, **extra, tie_word_embeddings=architecture != "llama")
    _build(model_class, config, destination, dtype)
    for name in TOKENIZER_FILES:
        if (embedded_hf / name).is_file():
            shutil.copy(embedded_hf / name, destination / name)
    return destination


# Control tokens of Mistral's v3 tokenizer that the chat template writes (ids 3.. as in Mistral-7B-v0.3).
MISTRAL_CONTROL = ["[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]"]
MISTRAL_CONTROL += ["[TOOL_RESULTS]", "[/TOOL_RESULTS]"]
_TEXT = (
    "the a an of to in and or is are was be note notes vault folder file search find list create move "
    "delete read write tool call result user assistant system memory session workspace agent content "
    "title tag date today tomorrow project meeting idea groceries travel book music code python json "
    "hello world thanks please open close update append replace prompt answer question model token"
)


_WORDS = _TEXT.split()


def sentencepiece_corpus(lines: int = 3000, seed: int = 0) -> list[str]:
    """Pseudo-sentences over a small vocabulary, with digits, punctuation and a few non-ASCII words."""
    import random

    rng = random.Random(seed)
    extra = ["café", "naïve", "über", "日本", "{", "}", '"', ":", ",", "(", ")", "-", "_", "/", "#", "'"]
    out = []
    for _ in range(lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 12))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 2026)))
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(extra))
        sentence = " ".join(words)
        out.append(sentence[0].upper() + sentence[1:] + rng.choice([".", "?", "!", ""]))
    return out


def _sentencepiece(destination: Path, **settings) -> Path:
    """Train a SentencePiece model on the generated corpus with the settings every shape here shares, write it
    as ``destination/tokenizer.model``."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentencepiece_corpus()),
        model_writer=model,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        num_threads=1,
        minloglevel=2,
        **settings,
    )
    destination.mkdir(parents=True, exist_ok=True)
    path = destination / "tokenizer.model"
    path.write_bytes(model.getvalue())
    return path


def train_sentencepiece(destination: Path, model_type: str = "bpe", vocab_size: int = 700) -> Path:
    """A real SentencePiece model trained here on a generated corpus, shaped like Llama's and Mistral's:
    identity normalization, dummy prefix, byte fallback, <unk>/<s>/</s> at 0/1/2, then control tokens."""
    return _sentencepiece(
        destination,
        model_type=model_type,
        vocab_size=vocab_size,
        add_dummy_prefix=True,
        control_symbols=MISTRAL_CONTROL,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
    )


def tiny_mistral(destination: Path, *, legacy: bool = False, dtype: str = "float32") -> Path:
    """A randomly initialised MistralForCausalLM with a real SentencePiece tokenizer (trained here), loaded and
    saved by transformers' LlamaTokenizer, and the project's Mistral chat template ([INST], [TOOL_CALLS])."""
    import transformers

    from toolset.weights.chat_templates import load

    sp_model = train_sentencepiece(destination)
    tokenizer = transformers.LlamaTokenizer.from_pretrained(destination, legacy=legacy, add_bos_token=True)
    tokenizer.add_special_tokens({"additional_special_tokens": MISTRAL_CONTROL})
    tokenizer.chat_template = load("mistral")
    tokenizer.save_pretrained(destination)
    assert sp_model.is_file()  # kept beside tokenizer.json, as in Mistral's and Llama 2's folders
    config = transformers.MistralConfig(
        vocab_size=len(tokenizer), **TINY_SHAPE, rope_theta=1_000_000.0, sliding_window=None, tie_word_embeddings=False
    )
    _build(transformers.MistralForCausalLM, config, destination, dtype)
    return destination


# Gemma's control tokens after <pad>/<eos>/<bos>/<unk> (ids 0-3, as in Gemma 3), and user-defined pieces like
# Gemma's (newlines, runs of spaces) that SentencePiece matches before BPE.
GEMMA_CONTROL = ["<mask>", "<start_of_turn>", "<end_of_turn>"]
GEMMA_USER_DEFINED = ["\n", "\n\n", "\u2581\u2581", "\u2581\u2581\u2581", "\u2581\u2581\u2581\u2581"]


def train_gemma_sentencepiece(destination: Path, vocab_size: int = 700) -> Path:
    """A real SentencePiece BPE model shaped like Gemma 3's: no dummy prefix, byte fallback, <pad>/<eos>/<bos>/<unk>
    at 0/1/2/3, then the turn markers and the user-defined whitespace pieces."""
    return _sentencepiece(
        destination,
        model_type="bpe",
        vocab_size=vocab_size,
        add_dummy_prefix=False,
        control_symbols=GEMMA_CONTROL,
        user_defined_symbols=GEMMA_USER_DEFINED,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
    )


def tiny_gemma(destination: Path, *, dtype: str = "float32", sliding_window: int = 8) -> Path:
    """A randomly initialised Gemma3ForCausalLM (model_type gemma3_text) with a Gemma-shaped SentencePiece tokenizer
    trained here, saved by transformers' GemmaTokenizer, and the project's Gemma chat template. Six layers, so that
    the sliding-window pattern (five local layers, then a global one) and both rope bases are exercised; the window
    is shorter than the test prompts. Norm weights are random too (Gemma applies them as 1 + w)."""
    import torch
    import transformers

    from toolset.weights.chat_templates import load

    train_gemma_sentencepiece(destination)
    tokenizer = transformers.GemmaTokenizer.from_pretrained(destination, add_bos_token=True)
    tokenizer.chat_template = load("gemma")
    tokenizer.save_pretrained(destination)
    shape = {**TINY_SHAPE, "num_hidden_layers": 6, "bos_token_id": 2, "eos_token_id": 1}
    config = transformers.Gemma3TextConfig(
        vocab_size=len(tokenizer),
        **shape,
        pad_token_id=0,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=sliding_window,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.Gemma3ForCausalLM(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(-0.5, 0.5)
            else:
                parameter.mul_(8.0)
    model.to(getattr(torch, dtype)).save_pretrained(destination)
    return destination


# The harmony format's control tokens (gpt-oss), added to SmolLM2's vocabulary for the tiny gpt-oss model.
HARMONY_CONTROL = ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>"]


def tiny_gpt_oss(embedded_hf: Path, destination: Path, *, dtype: str = "float32", sliding_window: int = 8) -> Path:
    """A randomly initialised GptOssForCausalLM of gpt-oss's exact architecture at a tiny shape: 2 layers (one
    sliding-window, one full attention), attention sinks and biases, 4 experts with top-2 routing, YaRN rope as in
    gpt-oss-20b's config. SmolLM2's tokenizer with the harmony control tokens added (``<|return|>`` is EOS, as in
    gpt-oss), and a harmony chat template without generation markers, like the real model's own."""
    import transformers

    from toolset.weights.chat_templates import load, without_generation_markers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(embedded_hf))
    tokenizer.add_special_tokens({"additional_special_tokens": HARMONY_CONTROL})
    tokenizer.eos_token = "<|return|>"
    tokenizer.chat_template = without_generation_markers(load("harmony"))
    tokenizer.save_pretrained(destination)
    shape = {**TINY_SHAPE, "intermediate_size": 32, "max_position_embeddings": 131072}
    shape |= {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.convert_tokens_to_ids("<|return|>")}
    config = transformers.GptOssConfig(
        vocab_size=len(tokenizer),
        **shape,
        head_dim=16,
        num_local_experts=4,
        num_experts_per_tok=2,
        sliding_window=sliding_window,
        tie_word_embeddings=False,
    )
    _build(transformers.GptOssForCausalLM, config, destination, dtype)
    return destination
