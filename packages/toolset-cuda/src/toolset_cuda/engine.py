"""Which engine trains, and loading the model + LoRA for it.

- ``unsloth``: on CUDA with unsloth installed — ``FastLanguageModel`` (4-bit QLoRA, its gradient checkpointing).
- ``transformers``: everywhere else — transformers + PEFT under the same TRL trainers, so the path the CPU
  tests run is the real one.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from toolset.config import RunConfig
from toolset.data.prepare import load_tokenizer
from toolset.errors import ToolsetError

ADAPTER = "default"


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def choose_engine(config: RunConfig) -> tuple[str, str]:
    """(engine, why) for this machine and config."""
    wanted = config.train.engine
    cuda = config.train.device in ("auto", "cuda") and cuda_available()
    if wanted == "transformers":
        return "transformers", "transformers + PEFT (train.engine: transformers)"
    if wanted == "unsloth":
        if not cuda:
            raise ToolsetError("train.engine is unsloth, but no CUDA GPU is usable here: set train.engine: auto")
        if not unsloth_installed():
            raise ToolsetError(
                'train.engine is unsloth, but unsloth is not installed: pip install "toolset-cuda[unsloth]"'
            )
        return "unsloth", "Unsloth FastLanguageModel on CUDA (train.engine: unsloth)"
    if cuda and unsloth_installed():
        return "unsloth", "Unsloth FastLanguageModel on CUDA"
    if cuda:
        return (
            "transformers",
            'transformers + PEFT on CUDA (unsloth not installed: pip install "toolset-cuda[unsloth]")',
        )
    return "transformers", "transformers + PEFT on CPU (no CUDA GPU)"


def prime(config: RunConfig) -> None:
    """Import unsloth first when it will train: it must patch transformers and TRL before they load."""
    if choose_engine(config)[0] == "unsloth":
        os.environ.setdefault("UNSLOTH_DISABLE_STATISTICS", "1")
        import unsloth  # noqa: F401


def device_for(config: RunConfig) -> str:
    if config.train.device != "auto":
        return config.train.device
    return "cuda" if cuda_available() else "cpu"


def torch_dtype(config: RunConfig, device: str) -> Any:
    import torch

    name = config.model.dtype
    if name == "auto":
        if device == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


def adapted_layers(config: RunConfig, model_config: Any) -> list[int] | None:
    """The indices of the transformer layers ``lora.layers`` adapts (the last N), or None for all of them."""
    if config.lora.layers is None:
        return None
    text = getattr(model_config, "text_config", None) or model_config
    total = int(text.num_hidden_layers)
    return list(range(max(0, total - config.lora.layers), total))


def _peft_config(config: RunConfig, model_config: Any) -> Any:
    from peft import LoraConfig

    lora = config.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        layers_to_transform=adapted_layers(config, model_config),
        bias=lora.bias,
        use_dora=lora.use_dora,
        task_type="CAUSAL_LM",
    )


def load_for_training(
    config: RunConfig, model_dir: Path, engine: str, *, parent_adapter: Path | None = None
) -> tuple[Any, Any, list[str]]:
    """(peft model, tokenizer, notes). With ``parent_adapter`` (KTO after SFT) training continues that adapter;
    TRL's KTO trainer copies it into a frozen ``ref`` adapter, the reference model."""
    notes: list[str] = []
    if engine == "unsloth":
        return _load_unsloth(config, model_dir, parent_adapter, notes)
    from peft import PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    device = device_for(config)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(config, device)}
    if config.model.load_in_4bit:
        if device == "cuda":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=kwargs["dtype"],
                bnb_4bit_use_double_quant=True,
            )
        else:
            notes.append("model.load_in_4bit needs CUDA (bitsandbytes): loading unquantized on CPU")
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir), trust_remote_code=config.model.trust_remote_code, **kwargs
    )
    if "quantization_config" in kwargs:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=_checkpointing(config))
    if parent_adapter is not None:
        model = PeftModel.from_pretrained(model, str(parent_adapter), adapter_name=ADAPTER, is_trainable=True)
        notes.append(f"continuing the adapter of {parent_adapter}; TRL keeps a frozen copy as the KTO reference")
    else:
        model = get_peft_model(model, _peft_config(config, model.config))
    tokenizer = load_tokenizer(model_dir, trust_remote_code=config.model.trust_remote_code)
    return model, tokenizer, notes


def _checkpointing(config: RunConfig) -> bool:
    return any(getattr(config.train, m).gradient_checkpointing for m in ("sft", "kto"))


def _load_unsloth(config: RunConfig, model_dir: Path, parent_adapter: Path | None, notes: list[str]):
    os.environ.setdefault("UNSLOTH_DISABLE_STATISTICS", "1")
    import unsloth  # noqa: F401  (must come before transformers/trl to patch them)
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(model_dir),
        max_seq_length=config.model.max_seq_length,
        load_in_4bit=config.model.load_in_4bit,
        dtype=None if config.model.dtype == "auto" else torch_dtype(config, "cuda"),
    )
    if parent_adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(parent_adapter), adapter_name=ADAPTER, is_trainable=True)
        notes.append(f"continuing the adapter of {parent_adapter}; TRL keeps a frozen copy as the KTO reference")
    else:
        lora = config.lora
        model = FastLanguageModel.get_peft_model(
            model,
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            layers_to_transform=adapted_layers(config, model.config),
            bias=lora.bias,
            use_gradient_checkpointing="unsloth" if _checkpointing(config) else False,
            random_state=config.train.seed,
            max_seq_length=config.model.max_seq_length,
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, notes


def estimate(config: RunConfig, model_dir: Path, method: str, seq_len: int) -> dict[str, float]:
    """A rough training memory estimate (GiB) from config.json: weights, LoRA + optimizer, activations."""
    try:
        meta = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    meta = meta.get("text_config", meta)
    hidden = meta.get("hidden_size", 0)
    layers = meta.get("num_hidden_layers", 0)
    inter = meta.get("intermediate_size", 4 * hidden)
    vocab = meta.get("vocab_size", 0)
    heads = meta.get("num_attention_heads", 1) or 1
    kv = meta.get("num_key_value_heads", heads) or heads
    head_dim = meta.get("head_dim") or hidden // heads
    attn = hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2
    per_layer = attn + 3 * hidden * inter
    embeddings = vocab * hidden * (1 if meta.get("tie_word_embeddings", False) else 2)
    params = layers * per_layer + embeddings
    bytes_per = 0.55 if config.model.load_in_4bit else {"float32": 4, "auto": 2}.get(config.model.dtype, 2)
    if config.model.dtype == "auto" and not cuda_available():
        bytes_per = 4 if not config.model.load_in_4bit else bytes_per
    r = config.lora.r
    lora_params = layers * r * (2 * hidden * 4 + 3 * (hidden + inter))
    settings = getattr(config.train, method)
    batch = settings.per_device_batch_size * (2 if method == "kto" else 1)  # KTO adds the KL batch
    act_bytes = 2 if bytes_per < 4 else 4
    per_token = hidden * layers * (2 if settings.gradient_checkpointing else 16) * act_bytes
    activations = batch * seq_len * (per_token + vocab * 4)
    gib = 2**30
    weights = params * bytes_per
    adapter = lora_params * 4 * 4  # weights, grads and two Adam moments in float32
    reference = 0 if method == "sft" else lora_params * 4
    return {
        "parameters_b": round(params / 1e9, 3),
        "weights_gib": round(weights / gib, 2),
        "lora_and_optimizer_gib": round((adapter + reference) / gib, 2),
        "activations_gib": round(activations / gib, 2),
        "total_gib": round((weights + adapter + reference + activations) / gib, 2),
    }
