"""Training throughput and peak memory: toolset's SFT/KTO path against calling TRL directly (CPU), and the
Unsloth path against plain transformers + PEFT at the same config (CUDA). Each variant runs in a fresh process.

CPU:  .venv/bin/python bench/bench_train.py --method sft --variants toolset,trl --steps 12
GPU:  python bench/bench_train.py --method sft --variants unsloth,transformers --random-model 1b --load-in-4bit
      (--random-model 7b: Mistral-7B's shape; --min-tokens 1800 --max-seq-length 3072: multi-turn samples of ~2k tokens)

Throughput counts the non-padding tokens of the training steps after the first (warm-up) step, over their wall
time. Peak memory is torch.cuda.max_memory_allocated on CUDA, the process's peak RSS on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {  # random llama shapes (SmolLM2's 49152-token vocabulary)
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "1b": dict(
        hidden_size=2048, intermediate_size=5632, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8
    ),
    "3b": dict(
        hidden_size=3072, intermediate_size=8192, num_hidden_layers=26, num_attention_heads=24, num_key_value_heads=8
    ),
    "7b": dict(  # Mistral-7B-v0.3's shape
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8
    ),
}


def long_samples(source: Path, destination: Path, min_tokens: int, tokenizer_dir: Path) -> Path:
    """Multi-turn conversations of at least ``min_tokens`` tokens (message texts and call arguments, counted
    with the tokenizer; the chat template adds a little), each made of consecutive conversations of ``source``
    after the first one's system prompt; the last one's tools and label count.
    """
    import transformers

    from toolset.data import Conversation
    from toolset.data.readers import read_conversations
    from toolset.data.writers import write_conversations

    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)

    def tokens(message) -> int:
        text = (message.content or "") + "".join(json.dumps(c.arguments) for c in message.tool_calls)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    samples = list(read_conversations(source))
    merged: list[Conversation] = []
    for start in range(len(samples)):
        messages = [m for m in samples[start].messages if m.role == "system"]
        total, index = sum(map(tokens, messages)), start
        while total < min_tokens and index < start + len(samples):
            for message in samples[index % len(samples)].messages:
                if message.role != "system":
                    for call in message.tool_calls:  # ids stay unique within the conversation
                        call.id = f"{call.id}_{index}" if call.id else None
                    if message.tool_call_id:
                        message.tool_call_id = f"{message.tool_call_id}_{index}"
                    messages.append(message)
                    total += tokens(message)
            index += 1
        last = samples[(index - 1) % len(samples)]
        merged.append(Conversation(messages=messages, tools=last.tools, label=last.label))
    write_conversations(merged, destination, format="messages")
    return destination


def random_model(size: str, tokenizer_dir: Path, destination: Path) -> Path:
    import shutil

    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=49152,
        max_position_embeddings=4096,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=True,
        **SIZES[size],
    )
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # initialising 3B weights on a CPU is slow
        model = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(destination)
    for item in tokenizer_dir.iterdir():
        if item.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(item, destination / item.name)
    return destination


class Clock:
    """A TrainerCallback recording the time and tokens seen at the end of every step."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def callback(self):
        from transformers import TrainerCallback

        marks = self.marks

        class _Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                marks.append((time.perf_counter(), int(state.num_input_tokens_seen or 0)))

        return _Clock()

    def result(self) -> dict[str, float]:
        (t0, k0), (t1, k1) = self.marks[0], self.marks[-1]
        return {"tokens_per_s": (k1 - k0) / (t1 - t0), "step_s": (t1 - t0) / (len(self.marks) - 1)}


def peak_memory_mib() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> dict:
    from toolset.config import load_config
    from toolset.data.readers import sample_path

    engine = "unsloth" if args.variant == "unsloth" else "transformers"
    overrides = [
        f"model.name={args.model}",
        "model.source=local",
        f"model.dtype={args.dtype}",
        f"model.load_in_4bit={str(args.load_in_4bit).lower()}",
        f"model.max_seq_length={args.max_seq_length}",
        f"dataset.sft=[{args.sft or sample_path('claudesidian_sft.jsonl')}]",
        f"dataset.kto=[{args.kto or sample_path('claudesidian_kto.jsonl')}]",
        "dataset.eval_fraction=0",
        f"train.engine={engine}",
        "lora.r=16",
        "lora.alpha=32",
        "lora.dropout=0",
    ]
    for key, value in (
        ("max_steps", args.steps),
        ("per_device_batch_size", args.batch),
        ("gradient_accumulation_steps", 1),
        ("logging_steps", 1),
        ("save_steps", 10_000),
        ("gradient_checkpointing", str(args.gradient_checkpointing).lower()),
        ("warmup_ratio", 0),
    ):
        overrides.append(f"train.{args.method}.{key}={value}")
    config = load_config(overrides=overrides)
    from toolset_cuda.engine import prime

    prime(config)
    from toolset_cuda import training

    clock = Clock()
    plan = training.plan_run(args.method, config, echo=lambda _line: None)
    started = time.perf_counter()
    if args.variant == "trl":
        trl_directly(args.method, plan, clock, Path(args.out))
    else:
        training.train(
            args.method,
            config,
            run_dir=Path(args.out) / "run",
            echo=lambda _line: None,
            plan=plan,
            callbacks=[clock.callback()],
        )
    return {
        "variant": args.variant,
        "wall_s": time.perf_counter() - started,
        "peak_mib": peak_memory_mib(),
        **clock.result(),
    }


def trl_directly(method: str, plan, clock: Clock, out: Path) -> None:
    """What a user calling TRL without toolset would run: same model, LoRA, data and arguments."""
    from datasets import Dataset

    from toolset_cuda import engine
    from toolset_cuda.training import _common_args

    model, tokenizer, _notes = engine.load_for_training(plan.config, plan.model_dir, "transformers")
    tokenizer.chat_template = plan.data.chat_template
    rows = Dataset.from_list([{k: v for k, v in row.items() if k != "_where"} for row in plan.data.train])
    arguments = _common_args(plan, out)
    if method == "sft":
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(model=model, args=SFTConfig(**arguments), train_dataset=rows, processing_class=tokenizer)
    else:
        from trl import KTOConfig, KTOTrainer

        trainer = KTOTrainer(
            model=model, args=KTOConfig(**arguments, beta=0.1), train_dataset=rows, processing_class=tokenizer
        )
    trainer.add_callback(clock.callback())
    trainer.train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=["sft", "kto"], default="sft")
    parser.add_argument("--variants", default="toolset,trl", help="toolset, trl, unsloth, transformers")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="Run the variants this many times, interleaved.")
    parser.add_argument("--model", help="A Hugging Face folder (default: the embedded SmolLM2-135M-Instruct).")
    parser.add_argument("--random-model", choices=sorted(SIZES), help="Train a random llama of this size instead.")
    parser.add_argument("--tokenizer", type=Path, help="Tokenizer folder for --random-model (default: embedded).")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--load-in-4bit", action="store_true")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--sft")
    parser.add_argument("--kto")
    parser.add_argument("--max-seq-length", type=int, default=2048)
    parser.add_argument(
        "--min-tokens", type=int, help="Train on multi-turn samples of about this many tokens (the samples chained)."
    )
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument("--child", dest="variant", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if args.random_model:
            tokenizer = args.tokenizer
            if tokenizer is None:
                from toolset.weights.models import embedded_model_dir

                tokenizer = embedded_model_dir()
            model = str(random_model(args.random_model, Path(tokenizer), Path(scratch) / f"random-{args.random_model}"))
        elif model is None:
            from toolset.weights.models import embedded_model_dir

            model = str(embedded_model_dir())
        if args.min_tokens:
            from toolset.data.readers import sample_path
            from toolset.weights.models import embedded_model_dir

            tokenizer_dir = args.tokenizer or (Path(model) if not args.random_model else embedded_model_dir())
            for method in ("sft", "kto"):
                source = Path(getattr(args, method) or sample_path(f"claudesidian_{method}.jsonl"))
                target = Path(scratch) / f"long-{method}.jsonl"
                setattr(args, method, str(long_samples(source, target, args.min_tokens, Path(tokenizer_dir))))
        forwarded = [
            f"--{k.replace('_', '-')}={v}"
            for k, v in (
                ("method", args.method),
                ("steps", args.steps),
                ("batch", args.batch),
                ("dtype", args.dtype),
                ("max_seq_length", args.max_seq_length),
                ("sft", args.sft),
                ("kto", args.kto),
            )
            if v
        ]
        forwarded += ["--load-in-4bit"] * args.load_in_4bit + ["--gradient-checkpointing"] * args.gradient_checkpointing
        results = []
        for repeat in range(args.repeats):
            for variant in args.variants.split(","):
                out = Path(scratch) / f"{variant}-{repeat}"
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    variant,
                    "--out",
                    str(out),
                    "--model",
                    model,
                    *forwarded,
                ]
                done = subprocess.run(
                    command, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
                )
                line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    sys.exit(f"{variant} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
                results.append(json.loads(line[len("RESULT ") :]))
                print(f"  {variant}: {results[-1]}", flush=True)
    length = f", samples of ~{args.min_tokens} tokens" if args.min_tokens else ""
    print(f"\nmethod {args.method}, {args.steps} steps, batch {args.batch}, model {args.random_model or model}{length}")
    print("| variant | tokens/s | s/step | peak memory (MiB) | wall (s) |\n| --- | --- | --- | --- | --- |")
    for variant in args.variants.split(","):
        mine = [r for r in results if r["variant"] == variant]
        best = max(mine, key=lambda r: r["tokens_per_s"])
        print(
            f"| {variant} | {best['tokens_per_s']:.1f} | {best['step_s']:.2f} "
            f"| {best['peak_mib']:.0f} | {best['wall_s']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
