"""The run directory every trainer writes, so reports and pipelines work the same on CUDA, CPU and MLX.

OUTPUT/RUN_ID/
  config.yaml          the resolved run configuration
  lineage.json         base model, dataset files with sha256, parent run, package versions
  checkpoints/         trainer checkpoints (for resuming)
  final_model/         adapter + tokenizer, renamed into place only when complete
  logs/metrics.jsonl   one row per logging step
  logs/loss.png        the loss curve, drawn at the end
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from toolset.config import RunConfig, dump_config
from toolset.runs.storage import atomic_file
from toolset.plugins.versions import installed_version

PACKAGES = (
    "toolset-core",
    "toolset-cuda",
    "toolset-mlx",
    "torch",
    "transformers",
    "trl",
    "peft",
    "unsloth",
    "mlx",
    "mlx-lm",
)


def new_run_id(config: RunConfig) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    model = config.model.name.rsplit("/", 1)[-1].lower()
    return f"{stamp}-{model}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    versions = {name: installed_version(name) for name in names}
    return {name: version for name, version in versions.items() if version is not None}


def prepare_run(
    config: RunConfig,
    *,
    run_dir: Path | None = None,
    datasets: Sequence[str | Path] = (),
    parent: Path | None = None,
    method: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Create (or reopen, to resume) a run directory and write its config.yaml and lineage.json."""
    if run_dir is None:
        run_dir = Path(config.output_dir) / (config.run_id or new_run_id(config))
    run_dir = Path(run_dir)
    for folder in ("checkpoints", "logs"):
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
    with atomic_file(run_dir / "config.yaml") as handle:
        handle.write(dump_config(config))
    lineage = {
        "method": method,
        "base_model": config.model.name,
        "model_source": config.model.source,
        "datasets": [{"path": str(path), "sha256": sha256_file(Path(path))} for path in datasets],
        "parent_run": str(parent) if parent else None,
        "packages": package_versions(),
        "python": platform.python_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    with atomic_file(run_dir / "lineage.json") as handle:
        json.dump(lineage, handle, indent=2)
    return run_dir


class MetricsLog:
    """Appends one JSON row per logging step to ``logs/metrics.jsonl``; each row is flushed to disk."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "logs" / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, default=float) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_loss(run_dir: Path | Sequence[Path], destination: Path | None = None) -> Path | None:
    """Draw the loss curve (one line per stage) of one run, or of several chained runs (SFT then KTO, their steps
    laid end to end). Default destination: ``RUN_DIR/logs/loss.png``. None when there is nothing to draw."""
    runs = [Path(run_dir)] if isinstance(run_dir, (str, Path)) else [Path(r) for r in run_dir]
    lines: dict[str, list[tuple[int, float]]] = {}
    offset = 0
    for run in runs:
        rows = [row for row in MetricsLog(run).rows() if "loss" in row and "step" in row]
        for row in rows:
            lines.setdefault(row.get("stage", run.name), []).append((offset + row["step"], row["loss"]))
        offset += max((row["step"] for row in rows), default=0)
    if not lines:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for stage, points in lines.items():
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=stage)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(f"Training loss - {' + '.join(run.name for run in runs)}")
    axes.grid(alpha=0.3)
    axes.legend()
    path = Path(destination) if destination else runs[0] / "logs" / "loss.png"
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png", bbox_inches="tight")
    plt.close(figure)
    return path
