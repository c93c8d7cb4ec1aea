"""LoRA/DoRA training and fusing through mlx-lm's Python API (never its CLI).

``train_adapter`` trains one stage on rows in mlx-lm's chat format (``{"messages": [...], "tools": [...]}``, the
same rows the ``sft`` formatter gives the CUDA trainers), rendered with the training chat template and masked
per token (:mod:`toolset.data.prepare`), through mlx-lm's ``train`` with our batches and loss. It writes
``adapters.safetensors`` and an ``adapter_config.json`` that mlx-lm's own loaders read. ``fuse`` folds the
adapters into a full model in Hugging Face layout, ready for the core ``gguf`` exporter. mlx and mlx_lm are
imported inside the functions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from toolset.config import LoraConfig, MlxConfig
from toolset.data.prepare import Example, encode, model_type
from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_directory, atomic_file
from toolset.weights import chat_templates

ADAPTER_FILE = "adapters.safetensors"
PAD_TO = 32


def model_overrides(model_path: Path) -> dict[str, Any]:
    """Config values mlx-lm needs but a transformers-5 config keeps elsewhere (``rope_parameters``)."""
    config_file = Path(model_path) / "config.json"
    if not config_file.is_file():
        return {}
    config = json.loads(config_file.read_text())
    rope = config.get("rope_parameters") or {}
    if "rope_theta" not in config and "rope_theta" in rope:
        return {"rope_theta": rope["rope_theta"]}
    return {}


def load_model(model_path: Path | str, adapter_path: Path | None = None, chat_template: str | None = None):
    """Load a local Hugging Face folder with mlx-lm (and, optionally, trained adapters)."""
    from mlx_lm.utils import load

    path = Path(model_path)
    if not (path / "config.json").is_file():
        raise ToolsetError(f"{path}: not a local model folder (config.json missing); MLX runs need local weights")
    model, tokenizer = load(
        str(path),
        model_config=model_overrides(path),
        adapter_path=str(adapter_path) if adapter_path else None,
    )
    if chat_template:
        tokenizer._tokenizer.chat_template = chat_template
    return model, tokenizer


def adapter_config(model_path: Path, lora: LoraConfig, mlx: MlxConfig) -> dict[str, Any]:
    return {
        "model": str(model_path),
        "fine_tune_type": mlx.fine_tune_type,
        "num_layers": mlx.num_layers,
        "lora_parameters": {"rank": lora.r, "scale": mlx.scale, "dropout": lora.dropout},
    }


class TokenCounter:
    """Tokens (padding excluded) handed to the training steps; mlx-lm's own count holds only loss tokens."""

    def __init__(self) -> None:
        self.tokens = 0
        self.batches = 0


def masked_loss(model: Any, batch: Any, mask: Any) -> tuple[Any, Any]:
    """Mean cross-entropy over the tokens whose mask is 1 (the assistant turns with prompt masking)."""
    import mlx.core as mx
    import mlx.nn as nn

    logits = model(batch[:, :-1])
    weights = mask[:, 1:]
    losses = nn.losses.cross_entropy(logits, batch[:, 1:]) * weights
    count = weights.sum()
    return losses.astype(mx.float32).sum() / mx.maximum(count, 1), count


def batch_iterator(counter: TokenCounter | None = None, seed: int = 0) -> Callable[..., Iterator[tuple[Any, Any]]]:
    """An ``iterate_batches`` for mlx-lm's ``train``/``evaluate`` over :class:`Example` items: batches of
    similar length, shuffled (seeded) each pass, padded, yielding ``(tokens, mask)``; training batches
    (``loop=True``) are counted in ``counter``."""

    def iterate(dataset, batch_size, max_seq_length, loop=False, comm_group=None, **_):
        import mlx.core as mx
        import numpy as np

        if len(dataset) < batch_size:
            raise ToolsetError(f"{len(dataset)} examples, fewer than batch_size {batch_size}")
        order = sorted(range(len(dataset)), key=lambda i: len(dataset[i]))
        batches = [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
        rng = np.random.default_rng(seed)
        while True:
            for number in rng.permutation(len(batches)) if loop else range(len(batches)):
                items = [dataset[i] for i in batches[number]]
                lengths = [min(len(item), max_seq_length) for item in items]
                width = min(1 + PAD_TO * ((max(lengths) + PAD_TO - 1) // PAD_TO), max_seq_length)
                tokens = np.zeros((len(items), width), np.int32)
                mask = np.zeros((len(items), width), np.int32)
                for row, (item, length) in enumerate(zip(items, lengths, strict=True)):
                    tokens[row, :length] = item.input_ids[:length]
                    mask[row, :length] = item.mask[:length]
                if loop and counter is not None:
                    counter.tokens += sum(lengths)
                    counter.batches += 1
                yield mx.array(tokens), mx.array(mask)
            if not loop:
                break

    return iterate


def _peak_memory_mb() -> float:
    """MLX's peak allocation; where it reports none (some CPU builds), the process's peak resident size."""
    import mlx.core as mx

    peak = mx.get_peak_memory()
    if peak:
        return round(peak / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _Reporter:
    """mlx-lm's training callback, turned into toolset's metrics rows (toolset-cuda's keys).

    ``tokens_per_s`` is the tokens handed to training (padding excluded, prompt included — what toolset-cuda
    counts) over the wall time since the previous report, validation time left out.
    """

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], None],
        stage: str,
        batch_size: int,
        counter: TokenCounter,
        *,
        examples: int,
        step_offset: int = 0,
    ) -> None:
        self.emit, self.stage, self.batch_size, self.counter = emit, stage, batch_size, counter
        self.examples, self.step_offset = max(1, examples), step_offset
        self.last = (time.perf_counter(), 0, 0)
        self.validation_time = 0.0

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        then, last_tokens, last_batches = self.last
        elapsed = max(now - then - self.validation_time, 1e-9)
        tokens, batches = self.counter.tokens, self.counter.batches
        step = int(info["iteration"])
        self.emit(
            {
                "stage": self.stage,
                "step": self.step_offset + step,
                "epoch": round(step * self.batch_size / self.examples, 4),
                "loss": round(float(info["train_loss"]), 6),
                "lr": float(info["learning_rate"]),
                "tokens_per_s": round((tokens - last_tokens) / elapsed, 1),
                "samples_per_s": round((batches - last_batches) * self.batch_size / elapsed, 3),
                "peak_memory_mb": _peak_memory_mb(),
                "tokens_seen": tokens,
                "loss_tokens": int(info["trained_tokens"]),
            }
        )
        self.last = (now, tokens, batches)
        self.validation_time = 0.0

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        self.validation_time += float(info.get("val_time", 0.0))
        step = int(info["iteration"])
        self.emit(
            {
                "stage": self.stage,
                "step": self.step_offset + step,
                "epoch": round(step * self.batch_size / self.examples, 4),
                "eval_loss": round(float(info["val_loss"]), 6),
            }
        )


def learning_rate_schedule(learning_rate: float, iterations: int, schedule: str = "constant", warmup: int = 0):
    """A float (constant) or an mlx schedule: linear warm-up over ``warmup`` steps, then constant or cosine."""
    import mlx.optimizers as optim

    if schedule not in ("constant", "cosine"):
        raise ToolsetError(f"unknown learning-rate schedule {schedule!r}; use constant or cosine")
    warmup = max(0, min(warmup, iterations - 1))
    if schedule == "constant" and not warmup:
        return learning_rate
    rest = max(1, iterations - warmup)
    main = optim.cosine_decay(learning_rate, rest, 0.0) if schedule == "cosine" else (lambda step: learning_rate)
    if not warmup:
        return main
    return optim.join_schedules([optim.linear_schedule(0.0, learning_rate, warmup), main], [warmup])


def as_examples(
    rows: Sequence[dict[str, Any] | Example], tokenizer: Any, template: str, mask_prompt: bool
) -> list[Example]:
    return [
        row if isinstance(row, Example) else encode(tokenizer, row, template, mask_prompt=mask_prompt) for row in rows
    ]


def train_adapter(
    model_path: Path,
    train_rows: Sequence[dict[str, Any] | Example],
    valid_rows: Sequence[dict[str, Any] | Example],
    destination: Path,
    *,
    lora: LoraConfig,
    mlx: MlxConfig,
    iterations: int,
    learning_rate: float,
    max_seq_length: int,
    stage: str = "main",
    resume_from: Path | None = None,
    chat_template: str | None = None,
    seed: int = 0,
    lr_schedule: str = "constant",
    warmup_steps: int = 0,
    step_offset: int = 0,
    emit: Callable[[dict[str, Any]], None] = lambda row: None,
) -> Path:
    """Train one stage; ``destination`` (adapters + config) appears only when the stage completed.

    Rows are ``sft`` formatter rows (``{"messages", "tools"}``; ``source``/``line`` are dropped) or already
    tokenized :class:`~toolset.data.prepare.Example` items. ``chat_template``: the template to render rows with
    (default: :func:`toolset.weights.chat_templates.choose`'s choice for this model).
    """
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    if len(train_rows) < mlx.batch_size:
        raise ToolsetError(
            f"stage {stage}: {len(train_rows)} training rows, fewer than batch_size {mlx.batch_size}; "
            "lower train.mlx.batch_size or add data"
        )
    mx.random.seed(seed)
    model, tokenizer = load_model(model_path)
    hf_tokenizer = getattr(tokenizer, "_tokenizer", tokenizer)
    if chat_template is None and not all(isinstance(row, Example) for row in [*train_rows, *valid_rows]):
        chat_template, _ = chat_templates.choose(
            hf_tokenizer, model_name=str(model_path), model_type=model_type(model_path)
        )
    train_set = as_examples(train_rows, hf_tokenizer, chat_template or "", mlx.mask_prompt)
    valid_set = as_examples(valid_rows, hf_tokenizer, chat_template or "", mlx.mask_prompt)
    if len(valid_set) < mlx.batch_size:
        valid_set = []  # mlx-lm's evaluation needs one full batch
    model.freeze()
    config = adapter_config(model_path, lora, mlx)
    linear_to_lora_layers(model, mlx.num_layers, config["lora_parameters"], use_dora=mlx.fine_tune_type == "dora")
    if resume_from is not None:
        weights = Path(resume_from) / ADAPTER_FILE
        if not weights.is_file():
            raise ToolsetError(f"{resume_from}: no {ADAPTER_FILE} to resume from")
        model.load_weights(str(weights), strict=False)
    model.train()
    layer_class = type(model.layers[0])
    layer_call = layer_class.__call__  # mlx-lm's gradient checkpointing patches the class; undone below
    counter = TokenCounter()
    try:
        with atomic_directory(destination, overwrite=True) as staging:
            with atomic_file(staging / "adapter_config.json") as handle:
                json.dump(config, handle, indent=2)
            args = TrainingArgs(
                batch_size=mlx.batch_size,
                iters=iterations,
                val_batches=-1 if valid_set else 0,
                steps_per_report=max(1, min(10, iterations // 4 or 1)),
                steps_per_eval=mlx.steps_per_eval if valid_set else iterations + 1,
                steps_per_save=iterations + 1,
                max_seq_length=max_seq_length,
                adapter_file=str(staging / ADAPTER_FILE),
                grad_checkpoint=mlx.grad_checkpoint,
            )
            schedule = learning_rate_schedule(learning_rate, iterations, lr_schedule, warmup_steps)
            train(
                model,
                optim.Adam(learning_rate=schedule),
                train_set,
                valid_set or None,
                args=args,
                loss=masked_loss,
                iterate_batches=batch_iterator(counter, seed),
                training_callback=_Reporter(
                    emit, stage, mlx.batch_size, counter, examples=len(train_set), step_offset=step_offset
                ),
            )
    finally:
        layer_class.__call__ = layer_call
    return destination


def training_template(folder: Path) -> str | None:
    """The chat template saved with a tokenizer folder (``chat_template.jinja`` or tokenizer_config.json)."""
    folder = Path(folder)
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text(encoding="utf-8")
    settings = folder / "tokenizer_config.json"
    if settings.is_file():
        template = json.loads(settings.read_text(encoding="utf-8")).get("chat_template")
        return template if isinstance(template, str) else None
    return None


def fuse(model_path: Path, adapter_dir: Path, destination: Path, *, overwrite: bool = False) -> Path:
    """Fold trained adapters into the base weights; write a Hugging Face-layout folder.

    The fused tokenizer keeps the chat template the adapters were trained with when ``adapter_dir`` holds one
    (an ``mlx-lora`` ``final_model`` does), so the GGUF exported from it prompts the model the same way.
    """
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import load, save

    if not (Path(adapter_dir) / ADAPTER_FILE).is_file():
        raise ToolsetError(f"{adapter_dir}: no {ADAPTER_FILE} (train first)")
    model, tokenizer, config = load(
        str(model_path), adapter_path=str(adapter_dir), return_config=True, model_config=model_overrides(model_path)
    )
    template = training_template(adapter_dir)
    if template:
        tokenizer._tokenizer.chat_template = template
    fused = [(name, module.fuse()) for name, module in model.named_modules() if hasattr(module, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    with atomic_directory(destination, overwrite=overwrite) as staging:
        save(staging, str(model_path), model, tokenizer, config, donate_model=False)
    return destination
