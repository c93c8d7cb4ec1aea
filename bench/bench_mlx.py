"""MLX LoRA training throughput (tokens/s) and peak memory with toolset-mlx (mlx-lm's training loop).

CPU (Linux, mlx[cpu]):
  .venv/bin/python bench/bench_mlx.py --model tiny --iterations 30
  .venv/bin/python bench/bench_mlx.py --model embedded --iterations 20
Apple Silicon (the GPU): the same commands, or a real model folder:
  python bench/bench_mlx.py --model ~/models/Mistral-7B-Instruct-v0.3 --iterations 30 --rank 16 --batch-size 2

Data: the bundled Claudesidian SFT sample (19 conversations, 277-668 tokens) through the ``sft`` formatter and
the training chat template, loss on assistant turns. tokens/s = tokens handed to training (padding excluded,
prompt included) over wall time, after the first report (warm-up and compilation); the whole-run figure
includes them. Anchor: mlx-lm's documentation reports about 250 tokens/s for Mistral-7B LoRA on an M1 Max.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import tempfile
import time
from pathlib import Path

TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def tiny_model(tokenizer_dir: Path, destination: Path) -> Path:
    """A random float32 llama of the tests' tiny shape with SmolLM2's tokenizer (needs torch + transformers)."""
    import shutil

    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=49152, max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, **TINY
    )
    transformers.LlamaForCausalLM(config).save_pretrained(destination)
    for item in tokenizer_dir.iterdir():
        if item.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(item, destination / item.name)
    return destination


def embedded_hf() -> Path:
    """The embedded SmolLM2-135M-Instruct as a Hugging Face folder (converted into the cache on first use)."""
    from toolset.weights.models import embedded_model_dir

    return embedded_model_dir()


def main() -> None:
    import mlx.core as mx

    from toolset.config import LoraConfig, MlxConfig, load_config
    from toolset.data.prepare import load_tokenizer, model_type, prepare, template_for
    from toolset.data.readers import sample_path
    from toolset_mlx.lora import train_adapter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="tiny, embedded, or a local Hugging Face folder")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--num-layers", type=int, default=16)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--max-seq-length", type=int, default=2048)
    parser.add_argument("--grad-checkpoint", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        if args.model == "tiny":
            model = tiny_model(embedded_hf(), scratch / "tiny")
        elif args.model == "embedded":
            model = embedded_hf()
        else:
            model = Path(args.model).expanduser()
        sample = str(sample_path("claudesidian_sft.jsonl"))
        config = load_config(
            overrides=[f"model.name={model}", "dataset.eval_fraction=0", f"model.max_seq_length={args.max_seq_length}"]
        )
        tokenizer = load_tokenizer(model)
        template, note = template_for(tokenizer, config, model_type=model_type(model))
        data = prepare("sft", config, tokenizer, files=[sample], name="stage bench", template=template)
        rows: list[dict] = []
        started = time.perf_counter()
        train_adapter(
            model,
            data.train,
            [],
            scratch / "adapters",
            lora=LoraConfig(r=args.rank),
            mlx=MlxConfig(num_layers=args.num_layers, batch_size=args.batch_size, grad_checkpoint=args.grad_checkpoint),
            iterations=args.iterations,
            learning_rate=1e-5,
            max_seq_length=args.max_seq_length,
            chat_template=template,
            emit=rows.append,
        )
        whole = time.perf_counter() - started
    reports = [row for row in rows if "tokens_per_s" in row]
    later = reports[1:] or reports
    pairs = list(itertools.pairwise(reports))
    tokens = sum(row["tokens_seen"] - previous["tokens_seen"] for previous, row in pairs)
    seconds = sum((row["tokens_seen"] - previous["tokens_seen"]) / row["tokens_per_s"] for previous, row in pairs)
    steady = tokens / seconds if seconds else later[0]["tokens_per_s"]
    device = "GPU" if mx.default_device() == mx.gpu else "CPU"
    print(f"machine: {platform.machine()} {platform.system()}, mlx on the {device}; model {model.name}")
    print(f"{note}; {len(data.train)} examples, {data.stats['tokens']['total']} tokens")
    print(f"batch {args.batch_size}, {args.num_layers} LoRA layers, rank {args.rank}, {args.iterations} iterations")
    speeds = ", ".join(f"{row['tokens_per_s']:.1f}" for row in later)
    print(f"tokens/s after warm-up: {steady:.1f} (reports: {speeds})")
    overall = reports[-1]["tokens_seen"] / whole
    print(f"tokens/s whole run (load, compile, warm-up included): {overall:.1f} ({whole:.1f} s)")
    print(f"samples/s after warm-up: {sum(r['samples_per_s'] for r in later) / len(later):.3f}")
    print(f"peak memory: {max(r['peak_memory_mb'] for r in reports):.0f} MiB")


if __name__ == "__main__":
    main()
