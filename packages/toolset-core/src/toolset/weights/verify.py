"""Check an exported GGUF file: llama.cpp must load it and generate; compared with the Hugging Face model,
greedy continuations must match token for token (f16/f32/bf16) or their agreement is reported (quantized)."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from toolset.errors import ToolsetError
from toolset.runs.storage import captured_native_output

PROMPTS = (
    "The capital of France is",
    "def fibonacci(n):",
    "<|im_start|>user\nList three colours.<|im_end|>\n<|im_start|>assistant\n",
    "Tool calls let a language model",
)
# A conversation rendered with the model's own chat template, to compare the tokenizers on a real chat prompt.
CHAT = [
    {"role": "system", "content": "You manage a notes vault."},
    {"role": "user", "content": "Find my notes about groceries \U0001f6d2, please."},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "search_notes", "arguments": {"query": "groceries"}}}],
    },
    {"role": "tool", "content": '{"titles": ["Groceries", "Épicerie"]}'},
    {"role": "assistant", "content": "Found two notes:\n- Groceries\n- Épicerie"},
    {"role": "user", "content": "Thanks!  And travel?"},
]
# Architectures whose verification prompts start with BOS (the others are prompted with the bare text).
BOS_ARCHITECTURES = {"gemma3"}
CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_notes",
            "description": "Search the vault",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    }
]


@attrs.define
class Verification:
    """The outcome: ``agreement`` is the mean share of greedy tokens equal to the reference, 1.0 = identical."""

    gguf: str
    loaded: bool
    generated: list[str] = attrs.Factory(list)
    compared: bool = False
    agreement: float | None = None
    exact: bool | None = None
    tokenizer_match: bool | None = None
    chat_tokenizer_match: bool | None = None
    detail: str = ""


def llama_greedy(path: Path, prompts: list[list[int]], max_new_tokens: int) -> tuple[list[list[int]], object]:
    """Greedy token ids from llama.cpp for each prompt (given as token ids); also returns the model."""
    from llama_cpp import Llama

    with captured_native_output() as log:
        try:
            model = Llama(model_path=str(path), n_ctx=512, n_threads=os.cpu_count() or 1, verbose=False, seed=0)
        except Exception as exc:
            model, error = None, exc
    if model is None:
        raise ToolsetError(f"llama.cpp cannot load {path}: {error}\n" + "\n".join(log[-5:]))
    outputs = []
    for ids in prompts:
        model.reset()
        tokens: list[int] = []
        for token in model.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0, reset=True):
            if token == model.token_eos() or len(tokens) >= max_new_tokens:
                break
            tokens.append(token)
        outputs.append(tokens)
    return outputs, model


def hf_greedy(model_dir: Path, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    """Greedy token ids from the Hugging Face model (float32 on the CPU) for the same prompts."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from toolset.weights.gguf_gpt_oss import reference_config

    hf_logging.disable_progress_bar()

    config = reference_config(model_dir)  # gpt-oss: YaRN as llama.cpp computes it
    extra = {"config": config} if config is not None else {}
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **extra)
    model.eval()
    outputs = []
    with torch.no_grad():
        for ids in prompts:
            result = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0)
            new = result[0, len(ids) :].tolist()
            eos = model.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos])
            cut = next((i for i, token in enumerate(new) if token in eos_ids), len(new))
            outputs.append(new[:cut])
    return outputs


def verify_gguf(
    path: Path, reference_dir: Path | None = None, *, exact: bool = True, max_new_tokens: int = 12
) -> Verification:
    """Load ``path`` with llama.cpp and generate; with ``reference_dir``, compare with the HF model.

    Raises ToolsetError when the file does not load, or when ``exact`` and the greedy tokens differ.
    """
    from llama_cpp import Llama

    path = Path(path)
    with captured_native_output():
        vocab_only = Llama(model_path=str(path), vocab_only=True, verbose=False)
    # Gemma is lost without its BOS token: its prompts get the one the tokenizer adds (add_bos_token)
    add_bos = vocab_only.metadata.get("general.architecture") in BOS_ARCHITECTURES
    prompts = [vocab_only.tokenize(text.encode(), add_bos=add_bos, special=True) for text in PROMPTS]
    outputs, model = llama_greedy(path, prompts, max_new_tokens)
    result = Verification(
        gguf=str(path),
        loaded=True,
        generated=[model.detokenize(tokens).decode("utf-8", "replace") for tokens in outputs],
    )
    if reference_dir is None or not _reference_available():
        result.detail = "loaded and generated; no Hugging Face reference compared"
        return result
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reference_dir)
    result.tokenizer_match = all(
        tokenizer.encode(text, add_special_tokens=add_bos) == ids for text, ids in zip(PROMPTS, prompts, strict=True)
    )
    chat = _chat_prompt(tokenizer)
    if chat is not None:
        ids = vocab_only.tokenize(chat.encode(), add_bos=False, special=True)
        result.chat_tokenizer_match = tokenizer.encode(chat, add_special_tokens=False) == ids
    expected = hf_greedy(Path(reference_dir), prompts, max_new_tokens)
    scores = []
    for got, want in zip(outputs, expected, strict=True):
        same = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        scores.append(same / max(len(want), len(got), 1))
    result.compared = True
    result.agreement = sum(scores) / len(scores)
    result.exact = outputs == expected
    result.detail = f"greedy agreement with the Hugging Face model: {result.agreement:.0%}"
    note = reference_note(reference_dir)
    if note:
        result.detail += f" ({note})"
    if exact and not result.exact:
        raise ToolsetError(f"{path}: greedy output differs from the Hugging Face model ({result.detail})")
    return result


def _chat_prompt(tokenizer: object) -> str | None:
    """CHAT rendered by the Hugging Face tokenizer's chat template, or None without a usable template."""
    try:
        return tokenizer.apply_chat_template(CHAT, tools=CHAT_TOOLS, tokenize=False, add_generation_prompt=True)
    except Exception:
        return None


def reference_note(reference_dir: Path) -> str | None:
    """What the comparison changed on the Hugging Face side to compute as llama.cpp does, if anything."""
    from toolset.weights.gguf_gpt_oss import REFERENCE_NOTE, reference_config

    return REFERENCE_NOTE if reference_config(Path(reference_dir)) is not None else None


def _reference_available() -> bool:
    from toolset.components import missing_modules

    return not missing_modules(["torch", "transformers"])
