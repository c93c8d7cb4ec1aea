"""Experiment trackers named in ``train.report_to`` (TRL/transformers callbacks): checked before any weights
load, their files kept inside the run directory, and one tracker run per training stage."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from toolset.errors import ToolsetError

# tracker -> (modules that provide it, any one is enough; what to install)
TRACKERS = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboardX"),
    "wandb": (("wandb",), "wandb"),
}


def check(report_to: Sequence[str]) -> list[str]:
    """Refuse unknown or uninstalled trackers; return notes for the run log (e.g. W&B has no credentials)."""
    notes = []
    for name in report_to:
        if name in ("none", "all"):
            raise ToolsetError(f"train.report_to: list trackers by name ({', '.join(TRACKERS)}); [] reports to none")
        if name not in TRACKERS:
            raise ToolsetError(f"train.report_to: unknown tracker {name!r} (known: {', '.join(TRACKERS)})")
        modules, package = TRACKERS[name]
        if not any(importlib.util.find_spec(module) for module in modules):
            raise ToolsetError(f"train.report_to: {name} needs a package that is not installed: pip install {package}")
    if "wandb" in report_to and not _wandb_credentials():
        notes.append(
            "W&B: no WANDB_API_KEY and no `wandb login` found; set one, or WANDB_MODE=offline to log locally "
            "(files under logs/wandb; `wandb sync` uploads them later)"
        )
    return notes


def _wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled"):
        return True
    try:
        import netrc

        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


@contextmanager
def tracking(report_to: Sequence[str], run_dir: Path, *, main: bool = True) -> Iterator[None]:
    """While a stage trains: TensorBoard events go to RUN/logs/tensorboard and W&B files to RUN/logs/wandb
    (unless TENSORBOARD_LOGGING_DIR / WANDB_DIR are set). Each stage gets its own W&B run, named like its
    run folder (project: WANDB_PROJECT, else "toolset"), opened here and finished at the end; the
    transformers callback logs into it."""
    wanted = {}
    if "tensorboard" in report_to and "TENSORBOARD_LOGGING_DIR" not in os.environ:
        wanted["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "logs" / "tensorboard")
    os.environ.update(wanted)
    wandb = None
    if "wandb" in report_to and main:
        import wandb

        folder = os.environ.get("WANDB_DIR") or str(run_dir / "logs")
        Path(folder).mkdir(parents=True, exist_ok=True)
        wandb.init(
            dir=folder,
            name=run_name(run_dir),
            project=os.environ.get("WANDB_PROJECT", "toolset"),
            reinit="finish_previous",
        )
    try:
        yield
    finally:
        for key in wanted:
            os.environ.pop(key, None)
        if wandb is not None and wandb.run is not None:
            wandb.finish()


def run_name(run_dir: Path) -> str:
    """A tracker's name for a run: OUTPUT/RUN_ID, or PIPELINE/STAGE."""
    return "/".join(Path(run_dir).parts[-2:])
