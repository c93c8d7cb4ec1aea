"""Fixtures for the training tests: a tiny random llama with SmolLM2's tokenizer and run configs."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
import yaml

from tests.model_factory import tiny_model
from toolset.data.readers import sample_path


@pytest.fixture(scope="session")
def tiny_llama(request, tmp_path_factory) -> Path:
    """A tiny random llama with SmolLM2's tokenizer, taken from the embedded model or, where that package is not
    installed (the GPU machine), from the folder named by ``TOOLSET_TEST_TOKENIZER``."""
    folder = os.environ.get("TOOLSET_TEST_TOKENIZER")
    source = Path(folder) if folder else request.getfixturevalue("embedded_hf")
    return tiny_model(source, tmp_path_factory.mktemp("tiny") / "tiny-llama", "llama")


def excerpt(source: Path, destination: Path, count: int, *, balanced: bool = False) -> Path:
    """The first ``count`` lines with an assistant call (both labels alternating when ``balanced``)."""
    kept: list[str] = []
    wanted = itertools.cycle([True, False]) if balanced else None
    want = next(wanted) if wanted else None
    with open(source, encoding="utf-8", errors="replace", newline="") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            turns = record.get("conversations") or []
            if not any(t.get("role") == "assistant" and t.get("tool_calls") for t in turns):
                continue
            if wanted is not None:
                if record.get("label") is not want:
                    continue
                want = next(wanted)
            kept.append(line.rstrip("\r\n"))
            if len(kept) == count:
                break
    destination.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return destination


@pytest.fixture
def shared_samples(upstream_data, tmp_path) -> dict[str, Path]:
    """Small excerpts of the real SFT and KTO datasets."""
    sft = sorted((upstream_data / "Datasets" / "tools_datasets").rglob("*.jsonl"))[0]
    kto = sorted((upstream_data / "Datasets" / "behavior_datasets").rglob("*.jsonl"))[0]
    return {
        "sft": excerpt(sft, tmp_path / "sft.jsonl", 8),
        "kto": excerpt(kto, tmp_path / "kto.jsonl", 8, balanced=True),
    }


def write_config(
    folder: Path, model_dir: Path, *, sft: Path | None = None, kto: Path | None = None, **sections
) -> Path:
    """A run config for the tiny model; ``sections`` are merged over the defaults below."""
    data = {
        "output_dir": str(folder / "runs"),
        "model": {"name": str(model_dir), "source": "local", "dtype": "float32", "max_seq_length": 2048},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "dataset": {
            "sft": [str(sft or sample_path("claudesidian_sft.jsonl"))],
            "kto": [str(kto or sample_path("claudesidian_kto.jsonl"))],
            "eval_fraction": 0.0,
        },
        "train": {
            "sft": {
                "max_steps": 2,
                "per_device_batch_size": 2,
                "gradient_accumulation_steps": 1,
                "gradient_checkpointing": False,
                "logging_steps": 1,
                "save_steps": 2,
            },
            "kto": {
                "max_steps": 2,
                "per_device_batch_size": 2,
                "gradient_accumulation_steps": 1,
                "gradient_checkpointing": False,
                "logging_steps": 1,
                "save_steps": 2,
            },
        },
        "export": {"formats": ["adapter"], "verify": False},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            _merge(data[key], value)
        else:
            data[key] = value
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _merge(target: dict, source: dict) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def toolset_cli():
    """A fresh ``toolset`` click group with every plugin's commands."""
    from toolset.cli import cli
    from toolset.plugins import add_commands

    add_commands(cli)
    return cli
