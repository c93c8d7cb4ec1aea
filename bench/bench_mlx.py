"""MLX LoRA training throughput (tokens/s) on the embedded SmolLM2-135M-Instruct.

Run: .venv/bin/python bench/bench_mlx.py [--iterations 30] [--batch-size 2]
On Linux this measures mlx[cpu]; the same command on an Apple Silicon Mac measures the GPU. Anchor: mlx-lm's
documentation reports about 250 tokens/s for Mistral-7B LoRA on an M1 Max (a 50x larger model).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
from pathlib import Path

from toolset.config import LoraConfig, MlxConfig
from toolset.models import embedded_model_dir

ROWS = [
    {
        "messages": [
            {"role": "system", "content": "You operate an Obsidian vault through tools."},
            {
                "role": "user",
                "content": f"Create a note called 'Meeting {i}' in the Projects folder with today's agenda.",
            },
            {
                "role": "assistant",
                "content": '<tool_call>{"name": "contentManager_createContent", "arguments": {"filePath": '
                f'"Projects/Meeting {i}.md", "content": "# Agenda\\n- item one\\n- item two"}}}}</tool_call>',
            },
        ]
    }
    for i in range(64)
]


def main() -> None:
    from toolset_mlx.lora import train_adapter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--num-layers", type=int, default=16)
    args = parser.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        train_adapter(
            embedded_model_dir(),
            ROWS,
            [],
            Path(scratch) / "adapters",
            lora=LoraConfig(r=8),
            mlx=MlxConfig(num_layers=args.num_layers, batch_size=args.batch_size, grad_checkpoint=False),
            iterations=args.iterations,
            learning_rate=1e-5,
            max_seq_length=512,
            emit=rows.append,
        )
    speeds = [row["tokens_per_s"] for row in rows if "tokens_per_s" in row][1:]  # the first report includes warm-up
    print(f"machine: {platform.machine()} {platform.system()}, batch {args.batch_size}, {args.num_layers} LoRA layers")
    print(f"tokens/s: median {statistics.median(speeds):.0f} (reports: {', '.join(f'{s:.0f}' for s in speeds)})")
    print(f"peak memory: {max(row['peak_memory_gb'] for row in rows if 'peak_memory_gb' in row):.2f} GB")


if __name__ == "__main__":
    main()
